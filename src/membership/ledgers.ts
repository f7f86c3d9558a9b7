import { type Logger, logWarning } from '../log.js';
import { ledgerOfSource, type MembershipLedger, type MembershipSource } from '../store/ledger.js';
import type { Store } from '../store/store.js';
import { MemoryLedger } from './memory-ledger.js';

/** One ledger per store without its own: every limiter of the process that shares the store shares it. */
const processLedgers = new WeakMap<Store, MemoryLedger>();

/**
 * The ledger memberships are kept in, as the `membership` option names it: the IM server's own
 * counts (a source), a ledger of the user's, or for `'ledger'` the store's own (`store.ledger`, the
 * Redis one beside the buckets), else one in this process. The last, beside a store other
 * processes share, caps each user per process: said once, at start-up.
 */
export function ledgerFor(
  option: 'ledger' | MembershipSource | MembershipLedger,
  store: Store,
  keyPrefix: string,
  logger: Logger,
): MembershipLedger {
  if (option !== 'ledger') return 'count' in option ? ledgerOfSource(option) : option;
  if (typeof store.ledger === 'function') return store.ledger(keyPrefix);
  if (store.shared === true) {
    logWarning(
      logger,
      'WRN_LEDGER_PER_PROCESS',
      `the store (${store.constructor?.name || 'Store'}) is shared between processes but keeps no membership ` +
        'ledger, so memberships are counted in this process: each process lets a user join up to the cap ' +
        '(maxJoinedPerUser). Share a RedisStore, or give the membership option a ledger or source that all see',
      { store: store.constructor?.name || 'Store' },
    );
  }
  let ledger = processLedgers.get(store);
  if (ledger === undefined) {
    // holds lapse by the store's clock: a fake one in tests, a monotonic one otherwise
    ledger = new MemoryLedger({ clock: store.clock });
    processLedgers.set(store, ledger);
  }
  return ledger;
}
