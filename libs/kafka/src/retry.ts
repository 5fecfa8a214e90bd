const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Retries `op` with exponential backoff (full jitter, capped at 5 s) until it succeeds or
 * `deadlineMs` passes. For start-up steps that need Kafka: a broker restarting must not kill the app.
 */
export async function retryUntil<T>(what: string, op: () => Promise<T>, deadlineMs: number, onRetry: (attempt: number, error: Error) => void): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (e) {
      if (Date.now() >= until) throw new Error(`${what} still failing after ${deadlineMs} ms: ${(e as Error).message}`);
      onRetry(attempt, e as Error);
      await sleep(Math.random() * Math.min(5000, 200 * 2 ** Math.min(attempt, 5)));
    }
  }
}
