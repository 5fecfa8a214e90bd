import * as http from 'http';

/** Load helpers: chunked concurrent sending, an open-loop HTTP load generator and percentiles. */

/**
 * Sends [0, n) in chunks of `chunk` (the last may be smaller), `concurrency` chunks in flight,
 * each worker taking the next chunk when its previous one resolved. Resolves with the seconds taken.
 */
export async function inChunks(n: number, chunk: number, concurrency: number, send: (from: number, count: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const from = next;
        next += chunk;
        if (from >= n) return;
        await send(from, Math.min(chunk, n - from));
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export interface Target {
  url: string;
  headers: Record<string, string>;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One POST; resolves with the status code when the answer's body has been read. */
/** `via` lets a load that must not queue behind another (the noisy neighbour's flood) have sockets of its own. */
export function post(t: Target, body: string | Buffer, via: http.Agent = agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(t.url, { method: 'POST', agent: via, headers: { ...t.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface OpenLoopResult {
  /** Milliseconds from each request's scheduled send time to its answer (no coordinated omission). */
  latencies: number[];
  errors: number;
  /** Requests answered per second over the whole run, the last answer included. */
  achieved: number;
}

/**
 * Sends `total` requests at a fixed `rate` per second whatever the answers' pace (open loop):
 * request k is due at start + k/rate; its latency counts from then, so a server falling behind
 * shows as latency, not as a lower offered rate.
 */
export async function openLoop(t: Target, rate: number, total: number, body: (k: number) => string, onStart: () => void = () => undefined): Promise<OpenLoopResult> {
  // Bodies are built before the clock starts: the generator shares the machine with what it measures.
  const bodies = Array.from({ length: total }, (_, k) => Buffer.from(body(k)));
  onStart();
  const latencies: number[] = [];
  let errors = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      for (; sent < due; sent++) {
        const scheduled = start + (sent * 1000) / rate;
        pending.push(
          post(t, bodies[sent]).then(
            (status) => {
              if (status >= 300) errors++;
              else latencies.push(performance.now() - scheduled);
            },
            () => {
              errors++;
            },
          ),
        );
      }
      if (sent >= total) done();
      // Sleep until the next request is due (at least 1 ms): no idle wake-ups at low rates.
      else setTimeout(tick, Math.max(1, start + (sent * 1000) / rate - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  return { latencies: latencies.sort((a, b) => a - b), errors, achieved: (total * 1000) / (performance.now() - start) };
}

/** Closed loop: `concurrency` clients each sending the next request when the last one is answered. */
export async function closedLoop(t: Target, concurrency: number, seconds: number, body: (k: number) => string): Promise<number> {
  let done = 0;
  let k = 0;
  const until = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const status = await post(t, body(k++));
        if (status >= 300) throw new Error(`${t.url} answered ${status}`);
        done++;
      }
    }),
  );
  return (done * 1000) / (performance.now() - start);
}
