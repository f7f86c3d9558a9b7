import { RedisStore } from '../store/redis-store.js';
import type { Store } from '../store/store.js';
import { ledgerOfSource, type MembershipLedger, type MembershipSource } from './ledger.js';
import { MemoryLedger } from './memory-ledger.js';
import { RedisLedger } from './redis-ledger.js';

/** One ledger per in-memory store: every limiter of the process that shares the store shares it. */
const memoryLedgers = new WeakMap<Store, MemoryLedger>();

/**
 * The ledger memberships are kept in: beside the buckets in Redis for a `RedisStore`, in this
 * process for any other store; or the IM server's own counts (a source), or a ledger of the user's.
 */
export function ledgerFor(
  option: 'ledger' | MembershipSource | MembershipLedger,
  store: Store,
  keyPrefix: string,
): MembershipLedger {
  if (option !== 'ledger') return 'count' in option ? ledgerOfSource(option) : option;
  // holds lapse by the store's clock: a fake one in tests, Redis TIME or a monotonic one otherwise
  if (store instanceof RedisStore) {
    return new RedisLedger(store.client, keyPrefix, { clock: store.clock, replicaAck: store.replicaAck });
  }
  let ledger = memoryLedgers.get(store);
  if (ledger === undefined) {
    ledger = new MemoryLedger({ clock: store.clock });
    memoryLedgers.set(store, ledger);
  }
  return ledger;
}
