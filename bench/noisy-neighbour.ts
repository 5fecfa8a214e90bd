import * as http from 'http';
import * as net from 'net';
import { Platform } from '../test/harness/platform';
import { percentile, post, Target } from './load';

/**
 * A quiet tenant's latency with and without a noisy neighbour on the same gateway and processor.
 * The noisy tenant floods at 10× its rate limit (batches of 100 events) and holds `slowConnections`
 * sockets that send their headers a byte at a time (each is cut at the headers timeout and
 * reopened). The quiet tenant sends single events at `quietRate` per second, well under its limit.
 * Measured for the quiet tenant: ingest latency (open loop, from each request's due time) and
 * end-to-end latency (from its 202 to the row in the event store, Postgres polled every 10 ms).
 */
export interface NoisyOptions {
  quietRate: number;
  quietEvents: number;
  tenantRate: number;
  slowConnections: number;
}

export interface QuietFigures {
  ingestP50: number;
  ingestP99: number;
  e2eP50: number;
  e2eP99: number;
  quietProcessed: number;
  /** Quiet requests not answered 202 (the run is void when this is not 0). */
  quietErrors: number;
  noisyAccepted: number;
  noisyRateLimited: number;
}

export async function noisyNeighbourRun(label: string, o: NoisyOptions, noisy: boolean): Promise<QuietFigures> {
  const p = new Platform(label, 6, { TRIBUTARY_TENANT_RATE: String(o.tenantRate), TRIBUTARY_TENANT_BURST: String(o.tenantRate * 2) });
  await p.start({ processors: 1 });
  const stop: (() => void)[] = [];
  try {
    const quietKey = await p.tenant('quiet');
    const noisyKey = await p.tenant('noisy');
    const url = new URL(p.url);
    let noisyAccepted = 0;
    let noisyRateLimited = 0;
    if (noisy) {
      // The flood: 10× the noisy tenant's rate, in batches of 100, answers not awaited in order.
      const batch = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ type: 'noise', subject: `n-${i}`, data: { pad: 'x'.repeat(200) } })));
      const target: Target = { url: `${p.url}/v1/events`, headers: { authorization: `Bearer ${noisyKey}` } };
      const perSecond = (o.tenantRate * 10) / 100;
      // Its own sockets: the quiet tenant's requests must not queue behind the flood in this client.
      const flood = new http.Agent({ keepAlive: true, maxSockets: 256 });
      stop.push(() => flood.destroy());
      const timer = setInterval(() => {
        for (let i = 0; i < perSecond / 20; i++) {
          post(target, batch, flood).then((s) => (s === 202 ? (noisyAccepted += 100) : s === 429 ? noisyRateLimited++ : undefined), () => undefined);
        }
      }, 50);
      stop.push(() => clearInterval(timer));
      // Slow connections: headers trickled one byte every 500 ms; reopened when the gateway cuts them.
      let open = true;
      stop.push(() => (open = false));
      const slow = () => {
        if (!open) return;
        const s = net.connect(Number(url.port), url.hostname);
        const head = `POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${noisyKey}\r\nX-Pad: ${'y'.repeat(4000)}`;
        let i = 0;
        const t = setInterval(() => (i < head.length ? s.write(head[i++]) : undefined), 500);
        s.on('error', () => undefined);
        s.on('close', () => {
          clearInterval(t);
          setTimeout(slow, 100);
        });
        stop.push(() => s.destroy());
      };
      for (let i = 0; i < o.slowConnections; i++) slow();
      await new Promise((r) => setTimeout(r, 1000)); // the flood under way before measuring
    }

    // The quiet tenant: single events in an open loop (each request sent at its due time, latency
    // counted from then); each 202 starts the event's end-to-end clock.
    const target: Target = { url: `${p.url}/v1/events`, headers: { authorization: `Bearer ${quietKey}` } };
    const bodies = Array.from({ length: o.quietEvents }, (_, k) => JSON.stringify({ id: `q-${k}`, type: 'order.created', subject: `o-${k % 50}`, data: { k } }));
    const acceptedAt = new Map<string, number>();
    const ingest: number[] = [];
    let errors = 0;
    // Polled while the quiet tenant sends, so each event's clock stops when its row appears.
    const seenAt = new Map<string, number>();
    let sending = true;
    const poller = (async () => {
      const until = () => (sending ? Infinity : Date.now() + 60000);
      let deadline = Infinity;
      while (sending || (seenAt.size < acceptedAt.size && Date.now() < deadline)) {
        if (!sending && deadline === Infinity) deadline = until();
        const pending = [...acceptedAt.keys()].filter((id) => !seenAt.has(id));
        if (pending.length) {
          const r = await p.db.query<{ event_id: string }>(`SELECT event_id FROM events WHERE tenant_id = 'quiet' AND event_id = ANY($1)`, [pending]);
          const now = performance.now();
          for (const row of r.rows) seenAt.set(row.event_id, now);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const t0 = performance.now();
    const sends: Promise<void>[] = [];
    for (let k = 0; k < o.quietEvents; k++) {
      const due = t0 + (k * 1000) / o.quietRate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      sends.push(
        post(target, bodies[k]).then(
          (status) => {
            const now = performance.now();
            if (status !== 202) errors++;
            else {
              ingest.push(now - due);
              acceptedAt.set(`q-${k}`, now);
            }
          },
          () => void errors++,
        ),
      );
    }
    await Promise.all(sends);
    sending = false;
    await poller;
    ingest.sort((a, b) => a - b);
    const e2e = [...seenAt].map(([id, at]) => at - acceptedAt.get(id)!).sort((a, b) => a - b);
    return {
      ingestP50: percentile(ingest, 50),
      ingestP99: percentile(ingest, 99),
      e2eP50: percentile(e2e, 50),
      e2eP99: percentile(e2e, 99),
      quietProcessed: e2e.length,
      quietErrors: errors,
      noisyAccepted,
      noisyRateLimited,
    };
  } finally {
    for (const f of stop) f();
    await p.stop();
  }
}
