import { BoundedMap } from '../bounded-map.js';
import type { Check, Reading } from '../store/store.js';

export interface RefusalCacheLimits {
  /** Refusals remembered at once; the oldest is forgotten past this. */
  readonly maxEntries: number;
  /** An estimate of the memory they take (keys and readings), held under this many bytes. */
  readonly maxBytes: number;
  /** The longest a refusal is remembered, whatever the store said: how stale it may be after a reset elsewhere. */
  readonly maxMs: number;
}

interface Refusal {
  readonly keys: readonly string[];
  /** Each check's figures (a bucket's capacity and interval, a window's limit and day): changed figures void it. */
  readonly figures: readonly number[];
  readonly readings: readonly Reading[];
  /** Which checks the refusal is proven by: no request of cost 1 or more passes them before `untilMs`. */
  readonly proven: readonly boolean[];
  readonly atMs: number;
  readonly untilMs: number;
  /** Past this the refusal is forgotten: `maxMs` after the checks were sent. */
  readonly expiresMs: number;
  /** Requests let through to the store since `untilMs`: each may take one of the tokens come since. */
  forwarded: number;
  readonly bytes: number;
}

/** What one remembered refusal costs besides its keys' characters: arrays, readings, the entry. */
const ENTRY_BYTES = 320;

/**
 * Refusals the store has just answered, remembered until the time it said no token can exist, so
 * that a flood against an empty bucket is refused in this process without a round trip, with the
 * same readings (their times moved on). Nothing is ever admitted here: a request is refused only
 * when a check it shares with the refusal, of cost 1 or more, cannot pass before then: a bucket
 * that had less than one token for a request of cost 1 (its `retryAfterMs` is until the next
 * token), or a window with nothing left. Bounded in entries, bytes and time.
 */
export class RefusalCache {
  /** By the key of each refused request's first check, oldest first. */
  private readonly refusals: BoundedMap<string, Refusal>;
  private bytes = 0;
  /** Refusals of checks sent before this were answered before a reset or a change of figures: not remembered. */
  private clearedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limits: RefusalCacheLimits,
    private readonly now: () => number,
  ) {
    this.refusals = new BoundedMap(limits.maxEntries, (_, evicted) => {
      this.bytes -= evicted.bytes;
    });
  }

  /**
   * The readings of a refusal still standing for exactly these checks, as of now; `undefined` when
   * the store must decide, which counts the request as let through.
   */
  refused(checks: readonly Check[]): readonly Reading[] | undefined {
    if (this.refusals.size === 0) return undefined; // the common case: one comparison
    const first = (checks[0] as Check).key;
    const refusal = this.refusals.get(first);
    if (refusal === undefined) return undefined;
    const now = this.now();
    if (now >= refusal.expiresMs) {
      this.forget(first, refusal);
      return undefined;
    }
    const { keys, figures, proven } = refusal;
    if (keys.length !== checks.length) return undefined;
    for (let i = 0; i < keys.length; i++) {
      const check = checks[i] as Check;
      if (check.key !== keys[i] || figureOf(check, 0) !== figures[2 * i] || figureOf(check, 1) !== figures[2 * i + 1])
        return undefined;
    }
    let stands = false;
    for (let i = 0; i < keys.length; i++) {
      const check = checks[i] as Check;
      if (proven[i] && check.cost >= 1 && nextTokenAt(check, refusal) > now) stands = true;
    }
    if (!stands) {
      refusal.forwarded++; // a token may have come: the store decides, and this request may take it
      return undefined;
    }
    // the store's own figures, moved on by the time since and by the tokens let through since (each taken)
    const elapsed = now - refusal.atMs;
    return refusal.readings.map((reading, i) => {
      const check = checks[i] as Check;
      const taken = proven[i] && check.type === 'bucket' ? refusal.forwarded * check.intervalMs : 0;
      return {
        allowed: reading.allowed,
        remaining: reading.remaining,
        resetMs: Math.max(0, Math.ceil(reading.resetMs + taken - elapsed)),
        retryAfterMs: reading.allowed ? 0 : Math.max(1, Math.ceil(reading.retryAfterMs + taken - elapsed)),
      };
    });
  }

  /**
   * Remembers a refusal the store answered to checks sent at `sentAtMs` (by `now`), when one of its
   * checks proves it stands for a while. The store decided after they were sent, and rounds its
   * times up to whole ms: no token exists before `sentAtMs + retryAfterMs - 1`.
   */
  remember(checks: readonly Check[], readings: readonly Reading[], sentAtMs: number): void {
    let provenMs = 0;
    const proven = readings.map((reading, i) => {
      const check = checks[i] as Check;
      const proves =
        !reading.allowed &&
        reading.remaining === 0 &&
        (check.type === 'window' ? check.cost >= 1 : check.cost === 1) &&
        reading.retryAfterMs > 1;
      if (proves) provenMs = Math.max(provenMs, reading.retryAfterMs);
      return proves;
    });
    if (provenMs === 0 || sentAtMs < this.clearedAtMs) return;
    const first = (checks[0] as Check).key;
    const stale = this.refusals.get(first);
    if (stale !== undefined) this.forget(first, stale);
    const keys = checks.map((check) => check.key);
    let bytes = ENTRY_BYTES;
    for (const key of keys) bytes += 2 * key.length;
    this.refusals.set(first, {
      keys,
      figures: checks.flatMap((check) => [figureOf(check, 0), figureOf(check, 1)]),
      readings,
      proven,
      atMs: sentAtMs,
      untilMs: sentAtMs + Math.min(provenMs - 1, this.limits.maxMs),
      expiresMs: sentAtMs + this.limits.maxMs,
      forwarded: 0,
      bytes,
    });
    this.bytes += bytes;
    while (this.bytes > this.limits.maxBytes && this.refusals.size > 0) this.refusals.evictOldest();
  }

  /** Forgets the refusal remembered under `key` (a request's first check): a token was given back to it. */
  forgetKey(key: string): void {
    const refusal = this.refusals.get(key);
    if (refusal !== undefined) this.forget(key, refusal);
  }

  /** Forgets every refusal: the buckets were reset, or an app's figures changed. */
  clear(): void {
    this.refusals.clear();
    this.bytes = 0;
    this.clearedAtMs = this.now();
  }

  get size(): number {
    return this.refusals.size;
  }

  private forget(key: string, refusal: Refusal): void {
    this.refusals.delete(key);
    this.bytes -= refusal.bytes;
  }
}

/**
 * A check's figures, which a refusal holds for: a bucket's capacity and interval, a window's limit
 * and the start of its day (a wall clock stepped into another day voids a refusal timed on this one).
 */
function figureOf(check: Check, which: 0 | 1): number {
  if (check.type === 'window') return which === 0 ? check.limit : (check.edgesMs[1] as number);
  return which === 0 ? check.capacity : check.intervalMs;
}

/**
 * The earliest a request past the `forwarded` ones let through since the refusal could find a token
 * in this check. A window has nothing until its end. A bucket had less than one token when the checks
 * were sent and gains one every `intervalMs` from `untilMs` at the soonest, whatever its capacity: by
 * then at most that many requests can have passed, and each one let through may have taken one.
 */
function nextTokenAt(check: Check, refusal: Refusal): number {
  return check.type === 'window' ? refusal.untilMs : refusal.untilMs + refusal.forwarded * check.intervalMs;
}
