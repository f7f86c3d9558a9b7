import { type Check, type Reading, type Store, type WindowCheck, windowIndex } from './store.js';

/** Float slack for GCRA comparisons: 30 × (1000/30) ms may land a hair past 1000. */
const EPSILON_MS = 1e-6;

interface WindowState {
  end: number;
  count: number;
}

export interface MemoryStoreOptions {
  /** The time in ms; inject a fake clock in tests. Default `Date.now`. */
  readonly clock?: () => number;
  /** How often, at most, idle buckets are swept out (on a `take`, never by a timer). Default 10 s. */
  readonly sweepIntervalMs?: number;
}

/**
 * In-process buckets: exact within one process, bounded (a bucket that has refilled holds no
 * information and is dropped at the next sweep), and with no timer per key. The default store.
 */
export class MemoryStore implements Store {
  /** GCRA state: each bucket's theoretical arrival time; a bucket is full once it lies in the past. */
  private readonly buckets = new Map<string, number>();
  private readonly windows = new Map<string, WindowState>();
  readonly clock: () => number;
  private readonly sweepIntervalMs: number;
  private nextSweepAt: number;
  /** Scratch space for the two-phase decision, reused so a request allocates only its readings. */
  private pending: number[] = [];

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
    this.nextSweepAt = this.clock() + this.sweepIntervalMs;
  }

  /** Buckets and windows currently held. */
  get size(): number {
    return this.buckets.size + this.windows.size;
  }

  take(checks: readonly Check[]): Reading[] {
    const now = this.clock();
    if (now >= this.nextSweepAt) this.sweep(now);
    const readings: Reading[] = new Array(checks.length);
    const pending = this.pending;
    let allAllowed = true;
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as Check;
      const reading = check.type === 'bucket' ? this.readBucket(check, now, i) : this.readWindow(check, now, i);
      readings[i] = reading;
      if (!reading.allowed) allAllowed = false;
    }
    if (!allAllowed)
      return readings.map((reading, i) => (reading.allowed ? this.unchanged(checks[i] as Check, now) : reading));
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as Check;
      const state = pending[i] as number;
      if (check.type === 'bucket') this.buckets.set(check.key, state);
      else {
        const window = this.windows.get(check.key);
        const end = windowEnd(check, now);
        if (window === undefined || window.end !== end) this.windows.set(check.key, { end, count: state });
        else window.count = state;
      }
    }
    return readings;
  }

  /** Drops every bucket that has refilled and every window that has ended. */
  sweep(now: number = this.clock()): void {
    for (const [key, tat] of this.buckets) if (tat <= now) this.buckets.delete(key);
    for (const [key, window] of this.windows) if (window.end <= now) this.windows.delete(key);
    this.nextSweepAt = now + this.sweepIntervalMs;
  }

  private readBucket(check: Extract<Check, { type: 'bucket' }>, now: number, slot: number): Reading {
    const tat = this.buckets.get(check.key);
    const base = tat === undefined || tat < now ? now : tat;
    const tolerance = check.capacity * check.intervalMs;
    let next = base + check.cost * check.intervalMs;
    if (next < now) next = now; // a refund fills the bucket at most
    if (next - now > tolerance + EPSILON_MS) {
      return {
        allowed: false,
        remaining: remainingTokens(tolerance, base - now, check.intervalMs),
        resetMs: ceilMs(base - now),
        retryAfterMs: ceilMs(next - now - tolerance),
      };
    }
    this.pending[slot] = next;
    return {
      allowed: true,
      remaining: remainingTokens(tolerance, next - now, check.intervalMs),
      resetMs: ceilMs(next - now),
      retryAfterMs: 0,
    };
  }

  private readWindow(check: WindowCheck, now: number, slot: number): Reading {
    const end = windowEnd(check, now);
    const window = this.windows.get(check.key);
    const used = window !== undefined && window.end === end ? window.count : 0;
    const next = Math.max(0, used + check.cost);
    const resetMs = ceilMs(end - now);
    if (next > check.limit)
      return { allowed: false, remaining: Math.max(0, check.limit - used), resetMs, retryAfterMs: resetMs };
    this.pending[slot] = next;
    return { allowed: true, remaining: check.limit - next, resetMs, retryAfterMs: 0 };
  }

  /** What a passing check reads when another check refused the request: its state as it stays. */
  private unchanged(check: Check, now: number): Reading {
    const reading =
      check.type === 'bucket'
        ? this.readBucket({ ...check, cost: 0 }, now, 0)
        : this.readWindow({ ...check, cost: 0 }, now, 0);
    return reading;
  }
}

/** Whole milliseconds, rounded up (as the Redis script does), ignoring float noise. */
function ceilMs(ms: number): number {
  return Math.ceil(ms - EPSILON_MS);
}

function remainingTokens(toleranceMs: number, usedMs: number, intervalMs: number): number {
  return Math.max(0, Math.floor((toleranceMs - usedMs) / intervalMs + EPSILON_MS));
}

function windowEnd(check: WindowCheck, now: number): number {
  return check.edgesMs[windowIndex(check.edgesMs, now) + 1] as number;
}
