import { BoundedMap } from '../bounded-map.js';
import { monotonicNow } from '../clock.js';
import { type Logger, logWarning } from '../log.js';
import { type Check, type Reading, type Settings, type Store, type WindowCheck, windowIndex } from './store.js';

/** What `readSettings` answers for a key that holds none: one object, never written to. */
const NO_SETTINGS: Settings = Object.freeze({});

/** Float slack for whole milliseconds: 30 × (1000/30) ms may land a hair past 1000. */
const EPSILON_MS = 1e-6;

/**
 * Float slack for a bucket's comparisons. A time of 1.8e12 ms steps by 2^-12 ms, a quarter of the
 * interval at 1e6/s: adding the interval to it rounds every token the same way (4.49 steps become 4,
 * and 912,000/s admitted 1,021,000 a second). So a bucket keeps its arrival time in two parts, whole
 * milliseconds and their fraction, and adds the interval to the fraction alone: each sum then rounds
 * within the bucket's span, not the epoch's. What is left is `now` itself, known to its last place
 * (2^-12 ms): a refill of exactly one interval must read as one token, so the slack is that place
 * (never half a token or more, so it never admits one more).
 */
function slackMs(now: number, toleranceMs: number, intervalMs: number): number {
  return Math.min(intervalMs / 2, Math.max(EPSILON_MS, toleranceMs * 1e-12, Math.abs(now) * 2.3e-16));
}

/**
 * A window's state is one negative number, `-1 - (endIndex × 2^32 + count)`: `endIndex` names its
 * end in `ends`, so a window costs what a bucket costs (one map entry holding one number) and no
 * object. Exact while both fit in a double's 53 bits: 2^21 distinct ends (one a day per time zone)
 * and counts up to 2^32 − 1 a window, which caps any window's limit at that.
 */
const COUNT_SPAN = 2 ** 32;
const MAX_WINDOW_COUNT = COUNT_SPAN - 1;

/**
 * An entry holds about 120 bytes with its key string (test/store/memory-flood.test.ts, which
 * measures a flood of invented apps), so the default cap holds about 120 MiB.
 */
const DEFAULT_MAX_ENTRIES = 1_000_000;

export interface MemoryStoreOptions {
  /**
   * The time in ms for buckets and windows alike; inject a fake clock in tests. By default buckets
   * run on a monotonic clock (a wall-clock step changes no count) and windows on the wall clock
   * (a day starts at the calendar's midnight).
   */
  readonly clock?: () => number;
  /** How often, at most, idle buckets are swept out (on a `take`, never by a timer). Default 10 s. */
  readonly sweepIntervalMs?: number;
  /**
   * The most buckets and windows held at once; past it the oldest are dropped, and a warning says
   * how many. Default 1,000,000 (about 120 MiB).
   */
  readonly maxEntries?: number;
  /** Where the warning goes when the store is full. Default `console`. */
  readonly logger?: Logger;
}

/**
 * In-process buckets: exact within one process, bounded (a bucket that has refilled holds no
 * information and is dropped at the next sweep), and with no timer per key. The default store.
 *
 * Bounded also against a flood of invented keys: at `maxEntries` the oldest entry (Map insertion
 * order) is dropped for each new one. Dropping only forgets: that key next reads as a full bucket
 * or an empty window, more lenient for it, never less. The cap bounds memory; the warning tells the
 * operator to raise it or move to a shared store.
 */
export class MemoryStore implements Store {
  /**
   * Key → a bucket's theoretical arrival time in whole ms (GCRA; ≥ 0, full once it lies in the past)
   * or a window (< 0). The arrival time's fraction of a ms is in `fractions` (absent: 0).
   */
  private readonly entries: BoundedMap<string, number>;
  private readonly fractions = new Map<string, number>();
  /** The window ends seen, by index; one a day per time zone, so this stays small. */
  private readonly ends: number[] = [];
  private readonly endIndexes = new Map<number, number>();
  /** Present only when given: otherwise windows fall on the wall clock's days, as the limiter computes them. */
  readonly clock?: () => number;
  /** What buckets, sweeps and the warning's throttle measure intervals by. */
  private readonly intervalClock: () => number;
  /** What windows find their day by. */
  private readonly calendarClock: () => number;
  private readonly sweepIntervalMs: number;
  private readonly logger: Logger;
  private nextSweepAt: number;
  /** Entries dropped for room since the last warning, and when the next warning may be logged. */
  private dropped = 0;
  private nextWarningAt = Number.NEGATIVE_INFINITY;
  /** Each check's state to write, for the two-phase decision: reused, so a request allocates only its readings. */
  private pending: number[] = [];
  private pendingFractions: number[] = [];
  /** Run-time settings by key: written by operators, a few per app, never swept. */
  private readonly settings = new Map<string, Settings>();

  constructor(options: MemoryStoreOptions = {}) {
    if (options.clock !== undefined) this.clock = options.clock;
    this.intervalClock = options.clock ?? monotonicNow;
    this.calendarClock = options.clock ?? (() => Date.now()); // looked up at each call, as the limiter's own is
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError(`MemoryStore maxEntries must be a positive integer, got ${maxEntries}`);
    this.entries = new BoundedMap(maxEntries, (key) => this.fractions.delete(key));
    this.logger = options.logger ?? console;
    this.nextSweepAt = this.intervalClock() + this.sweepIntervalMs;
  }

  /** Buckets and windows currently held. */
  get size(): number {
    return this.entries.size;
  }

  take(checks: readonly Check[]): Reading[] {
    const now = this.intervalClock();
    if (now >= this.nextSweepAt) this.sweep(now);
    const today = hasWindow(checks) ? this.calendarClock() : now;
    const readings: Reading[] = new Array(checks.length);
    const pending = this.pending;
    let allAllowed = true;
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as Check;
      const reading = check.type === 'bucket' ? this.readBucket(check, now, i) : this.readWindow(check, today, i);
      readings[i] = reading;
      if (!reading.allowed) allAllowed = false;
    }
    if (!allAllowed)
      return readings.map((reading, i) => (reading.allowed ? this.unchanged(checks[i] as Check, now, today) : reading));
    const { entries } = this;
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as Check;
      if (check.cost === 0) continue; // a reading (inspect) writes nothing: it changes no state
      const evicted = entries.set(check.key, pending[i] as number);
      if (check.type === 'bucket') this.fractions.set(check.key, this.pendingFractions[i] as number);
      else this.fractions.delete(check.key);
      if (evicted) this.droppedOldest(now);
    }
    return readings;
  }

  reset(keys: readonly string[]): void {
    for (const key of keys) {
      this.entries.delete(key);
      this.fractions.delete(key);
    }
  }

  readSettings(key: string): Settings {
    return this.settings.get(key) ?? NO_SETTINGS;
  }

  writeSettings(key: string, fields: Readonly<Record<string, string | null>>): void {
    const next: Record<string, string> = { ...this.settings.get(key) };
    for (const [field, value] of Object.entries(fields)) {
      if (value === null) delete next[field];
      else next[field] = value;
    }
    if (Object.keys(next).length === 0) this.settings.delete(key);
    else this.settings.set(key, Object.freeze(next)); // frozen: a reader holds it as read
  }

  /** Drops every bucket that has refilled and every window that has ended. */
  sweep(now: number = this.intervalClock()): void {
    const today = this.calendarClock();
    this.entries.deleteWhere((state, key) => {
      // a bucket's fraction is under 1 ms: full once its whole ms + 1 has passed
      const stale = state >= 0 ? state + 1 <= now : (this.ends[windowOf(state)] as number) <= today;
      if (stale) this.fractions.delete(key);
      return stale;
    });
    this.nextSweepAt = now + this.sweepIntervalMs;
    this.warnOfDrops(now);
  }

  /** The oldest entry went to make room for a new one: counted, and warned of at most once a sweep interval. */
  private droppedOldest(now: number): void {
    this.dropped++;
    if (now >= this.nextWarningAt) this.warnOfDrops(now);
  }

  private warnOfDrops(now: number): void {
    if (this.dropped === 0) return;
    logWarning(
      this.logger,
      'WRN_MEMORY_STORE_FULL',
      `the MemoryStore is full (${this.entries.maxEntries} entries); dropped ${this.dropped} oldest`,
      { maxEntries: this.entries.maxEntries, dropped: this.dropped },
    );
    this.dropped = 0;
    this.nextWarningAt = now + this.sweepIntervalMs;
  }

  private endIndexOf(end: number): number {
    let index = this.endIndexes.get(end);
    if (index === undefined) {
      index = this.ends.push(end) - 1;
      this.endIndexes.set(end, index);
    }
    return index;
  }

  private readBucket(check: Extract<Check, { type: 'bucket' }>, now: number, slot: number): Reading {
    const whole = this.entries.get(check.key);
    const nowWhole = Math.floor(now);
    const nowFraction = now - nowWhole;
    // how far the arrival time lies ahead of now, whole ms and fractions apart (a window under this key reads as full)
    const ahead =
      whole === undefined || whole < 0 ? 0 : whole - nowWhole + ((this.fractions.get(check.key) ?? 0) - nowFraction);
    const used = Math.max(ahead, 0);
    const tolerance = check.capacity * check.intervalMs;
    let next = used + check.cost * check.intervalMs;
    if (next < 0) next = 0; // a refund fills the bucket at most
    const slack = slackMs(now, tolerance, check.intervalMs);
    if (next > tolerance + slack) {
      return {
        allowed: false,
        remaining: remainingTokens(tolerance + slack, used, check.intervalMs),
        resetMs: ceilMs(used, slack),
        retryAfterMs: ceilMs(next - tolerance, slack),
      };
    }
    const sum = nowFraction + next;
    const carry = Math.floor(sum);
    this.pending[slot] = nowWhole + carry;
    this.pendingFractions[slot] = sum - carry;
    return {
      allowed: true,
      remaining: remainingTokens(tolerance + slack, next, check.intervalMs),
      resetMs: ceilMs(next, slack),
      retryAfterMs: 0,
    };
  }

  private readWindow(check: WindowCheck, now: number, slot: number): Reading {
    const end = windowEnd(check, now);
    const state = this.entries.get(check.key);
    const used = state !== undefined && state < 0 && this.ends[windowOf(state)] === end ? countOf(state) : 0;
    const next = Math.max(0, used + check.cost);
    const resetMs = ceilMs(end - now);
    if (next > Math.min(check.limit, MAX_WINDOW_COUNT))
      return { allowed: false, remaining: Math.max(0, check.limit - used), resetMs, retryAfterMs: resetMs };
    this.pending[slot] = -1 - (this.endIndexOf(end) * COUNT_SPAN + next);
    return { allowed: true, remaining: check.limit - next, resetMs, retryAfterMs: 0 };
  }

  /** What a passing check reads when another check refused the request: its state as it stays. */
  private unchanged(check: Check, now: number, today: number): Reading {
    return check.type === 'bucket'
      ? this.readBucket({ ...check, cost: 0 }, now, 0)
      : this.readWindow({ ...check, cost: 0 }, today, 0);
  }
}

/** Whether the wall clock must be read: most requests are buckets alone. */
function hasWindow(checks: readonly Check[]): boolean {
  for (const check of checks) if (check.type === 'window') return true;
  return false;
}

/** Whole milliseconds, rounded up (as the Redis script does), ignoring float noise. */
function ceilMs(ms: number, slack = EPSILON_MS): number {
  return Math.ceil(ms - slack) + 0; // + 0: a full bucket is 0 ms from full, not -0
}

function remainingTokens(toleranceMs: number, usedMs: number, intervalMs: number): number {
  return Math.max(0, Math.floor((toleranceMs - usedMs) / intervalMs));
}

/** The index of a window state's end in `ends`. */
function windowOf(state: number): number {
  return Math.floor((-1 - state) / COUNT_SPAN);
}

function countOf(state: number): number {
  return -1 - state - windowOf(state) * COUNT_SPAN;
}

function windowEnd(check: WindowCheck, now: number): number {
  return check.edgesMs[windowIndex(check.edgesMs, now) + 1] as number;
}
