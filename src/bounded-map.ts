/**
 * A map that holds at most `maxEntries` and forgets its oldest entry (insertion order) to make room:
 * the eviction of every in-process cache whose entries cannot simply be made again (the run-time
 * settings, the refusal cache, the MemoryStore's buckets); memos of what can be take `MemoMap` below.
 * `set` keeps an existing key in its place; a caller that wants recency deletes the key first.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  /**
   * Walks the keys oldest first, kept between evictions: a fresh `keys().next()` would step over
   * every deleted slot at the front of the table each time, quadratic under a flood of new keys.
   */
  private oldest: MapIterator<K> | undefined;

  /** `onEvict` is told of each entry forgotten to make room (never of one deleted or cleared). */
  constructor(
    readonly maxEntries: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Adds or replaces; returns whether the oldest entry was forgotten to make room for a new key. */
  set(key: K, value: V): boolean {
    const held = this.map.size;
    this.map.set(key, value);
    if (this.map.size === held || held < this.maxEntries) return false;
    this.evictOldest();
    return true;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    this.oldest = undefined;
  }

  /** Forgets the oldest entry, if any. */
  evictOldest(): void {
    this.oldest ??= this.map.keys();
    let oldest = this.oldest.next();
    if (oldest.done) {
      this.oldest = this.map.keys();
      oldest = this.oldest.next();
      if (oldest.done) return;
    }
    const key = oldest.value;
    const value = this.map.get(key) as V;
    this.map.delete(key);
    this.onEvict?.(key, value);
  }

  /**
   * Forgets every entry `stale` picks. Lets go of the eviction walk too: an iterator holds on to
   * every table the map has outgrown (or shrunk from) since it last moved.
   */
  deleteWhere(stale: (value: V, key: K) => boolean): void {
    for (const [key, value] of this.map) if (stale(value, key)) this.map.delete(key);
    this.oldest = undefined;
  }
}

/**
 * A memo of answers that can be made again (an app's decoded names, its compiled plan), holding at
 * most `maxEntries`: full, it forgets them all at once. When more keys are in rotation than it holds,
 * every lookup misses, and a `BoundedMap`'s eviction on every insert would cost more than the memo
 * saves; a busy key, forgotten, is made again on its next use.
 */
export class MemoMap<K, V> {
  private map = new Map<K, V>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    if (this.map.size >= this.maxEntries && !this.map.has(key)) this.map = new Map();
    this.map.set(key, value);
  }
}
