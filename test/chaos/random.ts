/**
 * A seeded PRNG (mulberry32), so a chaos run's random choices — which processor is killed, which
 * batches are sent twice, retry jitter — follow from the seed it prints. Timing still varies from
 * run to run (the load and the faults run concurrently), so the seed fixes the choices, not the
 * interleaving.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh seed when none is given (printed by the run, to repeat it with `--seed N`). */
export const newSeed = (): number => Math.floor(Math.random() * 2 ** 31);
