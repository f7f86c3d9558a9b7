import type { MembershipLedger } from './membership.js';

/**
 * A token bucket (GCRA): holds `capacity` tokens, refilled one every `intervalMs`.
 * A negative `cost` gives tokens back (never past `capacity`) and always passes.
 */
export interface BucketCheck {
  readonly type: 'bucket';
  readonly key: string;
  readonly capacity: number;
  readonly intervalMs: number;
  readonly cost: number;
}

/**
 * A calendar window: at most `limit` per window of `windowMs`, windows starting at multiples of
 * `windowMs` shifted by `offsetMs` (a day in UTC+8 has `offsetMs` 8 h). A negative `cost` gives back.
 */
export interface WindowCheck {
  readonly type: 'window';
  readonly key: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly offsetMs: number;
  readonly cost: number;
}

export type Check = BucketCheck | WindowCheck;

/** What one check said. The numbers describe the state after the request (or as it stayed). */
export interface Reading {
  readonly allowed: boolean;
  /** Whole requests of cost 1 still admissible now. */
  readonly remaining: number;
  /** Until the bucket is full again, or the window ends. */
  readonly resetMs: number;
  /** Until this check would admit the request; 0 when it did. */
  readonly retryAfterMs: number;
}

/**
 * The store port: decides every check of one request in one round trip, all or nothing — tokens
 * are taken from every check only if every check passes. Time is the store's own.
 * May answer synchronously (the in-memory store does, to spare a promise per request).
 */
export interface Store {
  take(checks: readonly Check[]): readonly Reading[] | Promise<readonly Reading[]>;
  /** Where the store keeps the membership ledger; without one the limiter keeps it in memory. */
  readonly membership?: MembershipLedger;
}
