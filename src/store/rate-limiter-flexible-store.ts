import { StoreError } from '../errors.js';
import { type Check, type Reading, type Store, type WindowCheck, windowIndex } from './store.js';

/** The fixed window a rate-limiter-flexible limiter is built for: `points` per `duration` seconds. */
export interface FlexiblePolicy {
  readonly points: number;
  readonly duration: number;
  /** Distinct per policy, so limiters of different figures never share a key. */
  readonly keyPrefix: string;
}

/**
 * The part of a rate-limiter-flexible limiter (`RateLimiterPostgres`, `RateLimiterMongo`, …) the
 * store uses, written out so that a project without that library type-checks this package's
 * declarations.
 */
export interface FlexibleLimiter {
  readonly points: number;
  consume(key: string, points?: number): Promise<FlexibleResult>;
  reward(key: string, points?: number): Promise<FlexibleResult>;
  delete(key: string): Promise<boolean>;
}

/** What a rate-limiter-flexible limiter resolves with, and rejects with when over the limit (`RateLimiterRes`). */
export interface FlexibleResult {
  readonly remainingPoints: number;
  readonly msBeforeNext: number;
  readonly consumedPoints: number;
}

export interface RateLimiterFlexibleStoreOptions {
  /**
   * Builds the limiter for one policy (one per category and edition), on whatever backend
   * rate-limiter-flexible supports: `(policy) => new RateLimiterPostgres({ storeClient, ...policy })`.
   */
  readonly create: (policy: FlexiblePolicy) => FlexibleLimiter;
}

const notReached: Reading = Object.freeze({ allowed: true, remaining: 0, resetMs: 0, retryAfterMs: 0 });

/**
 * Keeps the quotas in any backend of rate-limiter-flexible (PostgreSQL, MongoDB, Memcached,
 * DynamoDB, …). Its semantics are that library's: a bucket of `capacity` refilled over `T` becomes
 * a fixed window of `capacity` points per `T`, a calendar window becomes one of its current length
 * (23, 24 or 25 h for a day, by this process's clock) starting at its first hit rather than at
 * midnight, and several checks are taken one after the other, a refusal giving back what
 * the earlier ones took (best effort, not atomic).
 */
export class RateLimiterFlexibleStore implements Store {
  /** Its backends (PostgreSQL, MongoDB, …) are what processes share; it keeps no membership ledger there. */
  readonly shared = true;
  private readonly limiters = new Map<string, FlexibleLimiter>();

  constructor(private readonly options: RateLimiterFlexibleStoreOptions) {}

  async take(checks: readonly Check[]): Promise<readonly Reading[]> {
    const readings: Reading[] = [];
    for (const [index, check] of checks.entries()) {
      const limiter = this.limiterFor(check);
      try {
        if (check.cost <= 0) {
          const res = await limiter.reward(check.key, -check.cost);
          readings.push({
            allowed: true,
            remaining: Math.max(0, res.remainingPoints),
            resetMs: res.msBeforeNext,
            retryAfterMs: 0,
          });
          continue;
        }
        const res = await limiter.consume(check.key, check.cost);
        readings.push({ allowed: true, remaining: res.remainingPoints, resetMs: res.msBeforeNext, retryAfterMs: 0 });
      } catch (rejection) {
        if (!isOverLimit(rejection))
          throw new StoreError('ERR_STORE', `rate-limiter-flexible failed: ${String(rejection)}`, { cause: rejection });
        // rate-limiter-flexible counts a refused consume too: give it back, with all taken before it
        await Promise.all(
          checks.slice(0, index + 1).map((taken) => this.limiterFor(taken).reward(taken.key, taken.cost)),
        );
        const remaining = Math.max(0, limiter.points - (rejection.consumedPoints - check.cost));
        readings.push({
          allowed: false,
          remaining,
          resetMs: rejection.msBeforeNext,
          retryAfterMs: rejection.msBeforeNext,
        });
        for (let i = index + 1; i < checks.length; i++) readings.push(notReached);
        return readings;
      }
    }
    return readings;
  }

  /** Deletes the keys from every limiter this process has built: one it has not built is not reached. */
  async reset(keys: readonly string[]): Promise<void> {
    try {
      await Promise.all([...this.limiters.values()].flatMap((limiter) => keys.map((key) => limiter.delete(key))));
    } catch (error) {
      throw new StoreError('ERR_STORE', `rate-limiter-flexible failed: ${String(error)}`, { cause: error });
    }
  }

  private limiterFor(check: Check): FlexibleLimiter {
    const [points, durationMs] =
      check.type === 'bucket' ? [check.capacity, check.capacity * check.intervalMs] : [check.limit, windowMs(check)];
    const duration = Math.max(1, Math.ceil(durationMs / 1000));
    const id = `${check.type}-${points}-${duration}`;
    let limiter = this.limiters.get(id);
    if (limiter === undefined) {
      limiter = this.options.create({ points, duration, keyPrefix: `imrl-${id}` });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }
}

/** The length of the window that holds now. */
function windowMs({ edgesMs }: WindowCheck): number {
  const i = windowIndex(edgesMs, Date.now());
  return (edgesMs[i + 1] as number) - (edgesMs[i] as number);
}

/** rate-limiter-flexible rejects with a `RateLimiterRes` (not an Error) when over the limit. */
function isOverLimit(rejection: unknown): rejection is FlexibleResult {
  return !(rejection instanceof Error) && typeof (rejection as FlexibleResult | undefined)?.msBeforeNext === 'number';
}
