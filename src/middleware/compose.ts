import { auditor } from '../admin-change.js';
import { type Config, parseOptions } from '../config.js';
import { EditionDirectory } from '../edition-directory.js';
import { RefusalCache } from '../limiter/refusal-cache.js';
import { Limiter } from '../limiter.js';
import { routes } from '../limits/routes.js';
import { MembershipGate } from '../membership/gate.js';
import { ledgerFor } from '../membership/ledgers.js';
import type { Options } from '../options.js';
import { Failover, FailoverStore, Health } from '../store/failover-store.js';
import { RedisStore } from '../store/redis-store.js';
import { slotOf } from '../store/slot.js';
import { type Classifier, compileClassifier } from './classify-request.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Validations } from './validations.js';

/** One limiter instance's parts, each built once from its options. */
export interface Composed {
  readonly config: Config;
  readonly limiter: Limiter;
  /** Present when the `metrics` option names a registry. */
  readonly metrics: Metrics | undefined;
  readonly classifier: Classifier;
  readonly validations: Validations;
}

/**
 * The composition root: the only place options become objects. The limiter is handed its
 * collaborators (the failover, the store behind it, the editions, the membership gate, the refusal
 * cache) rather than building them, so each can be built, replaced or watched (the metrics) apart.
 */
export function compose(options: Options): Composed {
  const config = parseOptions(options);
  const { store, logger } = config;
  const metrics = config.metrics && createMetrics(config.metrics, store.constructor?.name || 'Store');
  const failover = new Failover({
    timeoutMs: config.storeTimeoutMs,
    logger,
    policy: config.onStoreError,
    ...(metrics === undefined ? {} : { onFailure: metrics.storeFailed }),
    // on a Redis Cluster each slot fails on its own: one slow or moving master degrades only its keys
    ...(store instanceof RedisStore && store.client.isCluster === true ? { slotOf } : {}),
    // the probe's second is the store's when a test gives it a fake clock, as every other interval is
    ...(store.clock === undefined ? {} : { clock: store.clock }),
  });
  metrics?.watch(failover);
  const failing = new FailoverStore(store, failover, config.fallbackProcesses);
  const refusalClock = store.clock ?? (() => performance.now());
  const memberships = config.membership === false ? undefined : membershipGate(config, config.membership, failover);
  const limiter = new Limiter(config, {
    failover,
    store: failing,
    editions: new EditionDirectory(config, failing),
    memberships,
    refusals: config.refusalCache === false ? undefined : new RefusalCache(config.refusalCache, refusalClock),
    refusalClock,
    audit: auditor(logger, config.onAdminChange),
  });
  const classifier = compileClassifier(routes, { nameCase: config.nameCase, basePath: config.basePath });
  return { config, limiter, metrics: metrics || undefined, classifier, validations: new Validations(config) };
}

/** The membership gate, on the store's health for its ledger, or on a health of its own for the IM server's. */
function membershipGate(
  config: Config,
  membership: Exclude<Config['membership'], false>,
  failover: Failover,
): MembershipGate {
  const ledger = ledgerFor(membership, config.store, config.keyPrefix, config.logger);
  // the IM server's count() or a ledger of its own is not the store: its failure is its own part's
  const own =
    membership === 'ledger'
      ? undefined
      : new Health('count' in membership ? 'the membership source' : 'the membership ledger');
  return new MembershipGate(ledger, failover, config.nameCase, config.membershipHoldMs, own);
}
