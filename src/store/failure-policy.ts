/** The `onStoreError` option: what a store call that failed, timed out or went to a part marked down becomes. */
export const storeErrorPolicies = ['fallback', 'allow', 'deny'] as const;
export type StoreErrorPolicy = (typeof storeErrorPolicies)[number];

/**
 * The one place `onStoreError` is interpreted, for each kind of call the store answers; the
 * failover, the buckets, the limiter and the membership gate ask it rather than read the option.
 * Run-time settings are the same under every policy: a read that failed leaves the last known (or
 * the configured) settings in place, a write that failed holds in this process only.
 */
export interface FailurePolicy {
  readonly name: StoreErrorPolicy;
  /** Buckets: the checks are taken on this process's own buckets (`fallback`), or not at all. */
  readonly countsHere: boolean;
  /** A request no bucket counted is admitted (`allow`), or refused as unavailable (`deny`). */
  readonly admitsUncounted: boolean;
  /**
   * The ledger: a join whose cap could not be checked is admitted only under `allow`. A cap one
   * process keeps alone is no cap (a client would join through every process), so `fallback` refuses it.
   */
  readonly admitsUncheckedJoin: boolean;
}

export function failurePolicy(name: StoreErrorPolicy): FailurePolicy {
  return Object.freeze({
    name,
    countsHere: name === 'fallback',
    admitsUncounted: name !== 'deny',
    admitsUncheckedJoin: name === 'allow',
  });
}
