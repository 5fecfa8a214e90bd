/**
 * Concurrent loads of one key share one promise (one database query for a burst of misses).
 * Settled loads leave the map at once, so it holds at most the loads in flight.
 */
export class SingleFlight<K, V> {
  private readonly pending = new Map<K, Promise<V>>();

  run(key: K, load: () => Promise<V>): Promise<V> {
    let p = this.pending.get(key);
    if (!p) {
      p = load().finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  get inFlight(): number {
    return this.pending.size;
  }
}
