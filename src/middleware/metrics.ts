import { createRequire } from 'node:module';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DecisionEvent } from '../decision.js';
import { ConfigError, StoreError, storeErrorCodes } from '../errors.js';
import type { MetricsRegistry } from '../options.js';
import type { Failover } from '../store/failover-store.js';

type PromClient = typeof import('prom-client');

/** The metrics' names, as docs/operating.md and the dashboard name them. */
export const metricNames = {
  requests: 'im_rate_limit_requests_total',
  storeDuration: 'im_rate_limit_store_duration_seconds',
  storeFailures: 'im_rate_limit_store_failures_total',
  degraded: 'im_rate_limit_degraded',
} as const;

/** From 0.1 ms (an in-memory take) to past the 50 ms default `storeTimeoutMs`. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

export interface Metrics {
  /** Counts a decision; `timed` when its store call was timed (the store decided, not the fallback). */
  record(event: DecisionEvent, timed: boolean): void;
  /** What `Failover` calls on each failed store call. */
  storeFailed(error: unknown): void;
  /** Reads `failover.degraded` into the gauge at every scrape. */
  watch(failover: Failover): void;
}

/** The instruments of one registry, shared by every limiter registered on it. */
interface Instruments {
  readonly appLabel: boolean;
  readonly requests: Counter<string>;
  readonly storeDuration: Histogram<'store'>;
  readonly storeFailures: Counter<'code'>;
  readonly failovers: Set<Failover>;
  /** Requests counted since the last scrape, by label set. */
  readonly pending: Map<string, { readonly labels: Record<string, string>; count: number }>;
}

const byRegistry = new WeakMap<object, Instruments>();

/**
 * Registers the library's metrics on the app's prom-client `Registry`; prom-client is loaded here,
 * so only when the `metrics` option is set. Limiters sharing a registry share its series.
 */
export function createMetrics(options: { registry: MetricsRegistry; appLabel: boolean }, storeName: string): Metrics {
  const registry = options.registry as unknown as Registry;
  let instruments = byRegistry.get(registry);
  if (instruments === undefined) {
    instruments = register(registry, options.appLabel);
    byRegistry.set(registry, instruments);
  } else if (instruments.appLabel !== options.appLabel) {
    throw new ConfigError(
      'ERR_INVALID_OPTION',
      'metrics.appLabel',
      'differs from that of another limiter on the same registry: their series would not add up',
    );
  }
  const { storeDuration, storeFailures, failovers, appLabel, pending } = instruments;
  const store = storeDuration.labels({ store: storeName });
  return {
    record(event, timed) {
      const reason = event.reason ?? '';
      // counted here, added to the counter at each scrape: prom-client hashes the labels on every inc()
      const key = `${event.category}\n${event.edition}\n${event.outcome}\n${reason}\n${appLabel ? event.appKey : ''}`;
      const counted = pending.get(key);
      if (counted !== undefined) counted.count++;
      else {
        const { category, edition, outcome } = event;
        const labels = { category, edition, outcome, reason };
        pending.set(key, { labels: appLabel ? { ...labels, app: event.appKey } : labels, count: 1 });
      }
      if (timed && !event.degraded) store.observe(event.storeMs / 1000);
    },
    storeFailed(error) {
      storeFailures.inc({ code: error instanceof StoreError ? error.code : 'ERR_STORE' });
    },
    watch(failover) {
      failovers.add(failover);
    },
  };
}

function register(registry: Registry, appLabel: boolean): Instruments {
  for (const name of Object.values(metricNames)) {
    if (registry.getSingleMetric(name) !== undefined) {
      throw new ConfigError('ERR_INVALID_OPTION', 'metrics.registry', `already holds a metric named ${name}`);
    }
  }
  const prom = createRequire(import.meta.url)('prom-client') as PromClient;
  const registers = [registry];
  const failovers = new Set<Failover>();
  const pending: Instruments['pending'] = new Map();
  new prom.Gauge({
    name: metricNames.degraded,
    help: '1 while decisions are made without the shared store (onStoreError policy), else 0',
    registers,
    collect(this: Gauge) {
      let degraded = 0;
      for (const failover of failovers) if (failover.degraded) degraded = 1;
      this.set(degraded);
    },
  });
  return {
    appLabel,
    failovers,
    pending,
    requests: new prom.Counter({
      name: metricNames.requests,
      help: 'Classified requests by decision: outcome admitted, refused or reported (report mode); reason when not admitted',
      labelNames: appLabel
        ? ['category', 'edition', 'outcome', 'reason', 'app']
        : ['category', 'edition', 'outcome', 'reason'],
      registers,
      collect(this: Counter<string>) {
        for (const series of pending.values()) {
          if (series.count === 0) continue;
          this.inc(series.labels, series.count);
          series.count = 0;
        }
      },
    }),
    storeDuration: new prom.Histogram({
      name: metricNames.storeDuration,
      help: "Time in the store's take call of a decision the store made (not the fallback)",
      labelNames: ['store'],
      buckets: STORE_BUCKETS,
      registers,
    }),
    storeFailures: storeFailuresCounter(prom, registers),
  };
}

/**
 * Each code's series starts at 0: a series that appears only at the first failure reads "No data"
 * until then, and `increase()` over the first outage misses the step from nothing to 1.
 */
function storeFailuresCounter(prom: PromClient, registers: Registry[]): Counter<'code'> {
  const counter = new prom.Counter({
    name: metricNames.storeFailures,
    help: `Failed store calls (probes included) by error code: ${storeErrorCodes.join(', ')}`,
    labelNames: ['code'],
    registers,
  });
  for (const code of storeErrorCodes) counter.inc({ code }, 0);
  return counter;
}
