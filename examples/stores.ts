// The stores that docs/stores.md shows: type-checked by `npm run typecheck`, run by test/examples.test.ts.
import { imRateLimit, MemoryStore, RateLimiterFlexibleStore } from 'im-rate-limit';
import type { Check, MembershipLedger, Progress, Reading, Settings, Store } from 'im-rate-limit/store';
import { RateLimiterPostgres } from 'rate-limiter-flexible';

// #region memory
/** One process: the default store, here holding up to two million buckets (about 240 MiB). */
export const oneProcess = () => imRateLimit({ store: new MemoryStore({ maxEntries: 2_000_000 }) });
// #endregion

// #region flexible
/** Any backend of rate-limiter-flexible, here PostgreSQL through a `pg` pool; fixed windows, not atomic. */
export function onPostgres(pool: unknown) {
  const store = new RateLimiterFlexibleStore({
    create: (policy) => new RateLimiterPostgres({ storeClient: pool, tableName: 'rate_limits', ...policy }),
  });
  return imRateLimit({ store });
}
// #endregion

// #region custom
/** A store of your own: here one that counts the calls of another and passes every part of it on. */
export class CountingStore implements Store {
  calls = 0;
  readonly shared: boolean;
  readonly clock?: () => number;
  /** The memberships kept beside the buckets (a RedisStore's), so that every process sees them. */
  readonly ledger?: (keyPrefix: string) => MembershipLedger;

  constructor(private readonly inner: Store) {
    this.shared = inner.shared === true;
    if (inner.clock !== undefined) this.clock = inner.clock;
    if (inner.ledger !== undefined) this.ledger = inner.ledger.bind(inner);
  }

  take(checks: readonly Check[], progress?: Progress): readonly Reading[] | Promise<readonly Reading[]> {
    this.calls++;
    return this.inner.take(checks, progress);
  }

  reset(keys: readonly string[]) {
    return this.inner.reset?.(keys);
  }

  readSettings(key: string): Settings | Promise<Settings> {
    return this.inner.readSettings?.(key) ?? {};
  }

  writeSettings(key: string, fields: Readonly<Record<string, string | null>>) {
    return this.inner.writeSettings?.(key, fields);
  }
}
// #endregion
