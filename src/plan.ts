import { burstOf, type Category, clusterDownloadsBurst, type EditionRules, type Overrides } from './limits/table.js';
import type { Edition } from './options.js';
import { appTag, clusterDownloadsKey, keyOf } from './store/keys.js';
import { spreadTags } from './store/slot.js';
import type { BucketCheck, Check, WindowCheck } from './store/store.js';

const DAY_SECONDS = 86_400;

/** A limit as a client is told of it (`RateLimit-Policy: "messages";q=10;w=1`). */
export interface Policy {
  readonly name: string;
  readonly limit: number;
  readonly windowSeconds: number;
}

/** The checks one kind of request makes, and the policies of the first of them, reported in headers. */
export interface CheckSet {
  readonly checks: readonly Check[];
  readonly policies: readonly Policy[];
}

export interface CategoryPlan {
  /** The app's bucket for the category. */
  readonly rate: CheckSet;
  /** Message sends in an edition with a daily push quota: the bucket and the day's window. */
  readonly send?: CheckSet;
  /** File downloads: the bucket and a shard of the cluster-wide downloads bucket (not reported in headers). */
  readonly download?: DownloadSet;
}

/** The checks of a download: the app's bucket and one shard of the cluster-wide bucket (`checks`: the first). */
export interface DownloadSet extends CheckSet {
  /** The app's files bucket, taken with a shard (`SharedChecks.downloadShards`) in one store call. */
  readonly appBucket: BucketCheck;
}

/** Checks every app's plan shares: one figure for the cluster, whatever each app's edition and overrides. */
export interface SharedChecks {
  readonly keyPrefix: string;
  /**
   * The cluster-wide downloads bucket, at the `clusterDownloadsPerSecond` option, split into
   * `clusterDownloadsShards` buckets under hash tags of their own (one, `{global}`, by default).
   */
  readonly downloadShards: readonly BucketCheck[];
  /**
   * Shard by shard, what a download the IM server refused gives back: its cluster-wide token, so
   * invented apps cannot drain it.
   */
  readonly downloadRefunds: ReadonlyArray<readonly Check[]>;
}

/**
 * The cluster-wide downloads bucket in `shards` buckets whose rates and bursts add up to the whole:
 * each refills at `perSecond / shards`; the burst is shared out whole, the first `burst % shards`
 * shards holding one more (so `shards` may not exceed the burst: each shard admits at least one).
 * Over any interval the shards together admit no more than the one bucket could (ARCHITECTURE.md →
 * Decisions: the cluster-wide downloads bucket in shards).
 */
export function sharedChecks(keyPrefix: string, perSecond: number, shards = 1): SharedChecks {
  const burst = clusterDownloadsBurst(perSecond);
  if (!Number.isSafeInteger(shards) || shards < 1 || shards > burst) {
    throw new RangeError(`the cluster-wide downloads bucket (burst ${burst}) cannot be split into ${shards} shards`);
  }
  const downloadShards = spreadTags('global', shards).map(
    (tag, k): BucketCheck =>
      Object.freeze({
        type: 'bucket',
        key: clusterDownloadsKey(keyPrefix, tag),
        capacity: Math.floor(burst / shards) + (k < burst % shards ? 1 : 0),
        intervalMs: (1000 * shards) / perSecond,
        cost: 1,
      }),
  );
  const downloadRefunds = downloadShards.map((shard) => Object.freeze([Object.freeze({ ...shard, cost: -1 })]));
  return Object.freeze({
    keyPrefix,
    downloadShards: Object.freeze(downloadShards),
    downloadRefunds: Object.freeze(downloadRefunds),
  });
}

/**
 * One app's rules under one edition and one set of overrides (kept as given: a plan serves while
 * both are the same, the overrides by identity), compiled into ready-made checks category by category, on the
 * first request of each: most apps use a few of the ten, and the limiter caches a plan per app.
 */
export class AppPlan {
  private readonly compiled: { [C in Category]?: CategoryPlan } = {};

  constructor(
    private readonly appKey: string,
    readonly edition: Edition,
    readonly rules: EditionRules,
    private readonly shared: SharedChecks,
    readonly overrides?: Overrides | undefined,
  ) {}

  category(category: Category): CategoryPlan {
    let compiled = this.compiled[category];
    if (compiled === undefined) {
      compiled = compileCategory(this.appKey, category, this.rules, this.shared);
      this.compiled[category] = compiled;
    }
    return compiled;
  }
}

/** The store keys of one app's category: its bucket, and its daily window (only messages has one). */
export function categoryKeys(appKey: string, category: Category, keyPrefix: string): { rate: string; daily: string } {
  const tag = appTag(appKey);
  return { rate: keyOf(keyPrefix, tag, category, 'rate'), daily: keyOf(keyPrefix, tag, category, 'daily') };
}

/** The checks one category's requests make for one app. */
function compileCategory(appKey: string, category: Category, rules: EditionRules, shared: SharedChecks): CategoryPlan {
  const keys = categoryKeys(appKey, category, shared.keyPrefix);
  const rule = rules[category];
  const capacity = burstOf(rule);
  const bucket: BucketCheck = {
    type: 'bucket',
    key: flat(keys.rate),
    capacity,
    intervalMs: 1000 / rule.ratePerSecond,
    cost: 1,
  };
  const policy: Policy = {
    name: category,
    limit: capacity,
    windowSeconds: Math.ceil(capacity / rule.ratePerSecond - 1e-9), // 30 ÷ 30/s is 1 s, not 1.0000000000000002
  };
  const plan: { -readonly [K in keyof CategoryPlan]: CategoryPlan[K] } = {
    rate: { checks: [bucket], policies: [policy] },
  };
  if (category === 'messages' && rules.messages.dailyPushQuota !== null) {
    const limit = rules.messages.dailyPushQuota;
    const day: WindowCheck = {
      type: 'window',
      key: flat(keys.daily),
      limit,
      edgesMs: [], // the days around now, set per request
      cost: 1,
    };
    plan.send = {
      checks: [bucket, day],
      policies: [policy, { name: 'messages-daily', limit, windowSeconds: DAY_SECONDS }],
    };
  }
  if (category === 'files') {
    const checks = [bucket, shared.downloadShards[0] as BucketCheck];
    plan.download = { checks, policies: plan.rate.policies, appBucket: bucket };
  }
  return Object.freeze(plan);
}

/**
 * A key as one flat string. Built by concatenation, a key is a tree of V8 cons strings (the prefix,
 * the tag, the app key and its parts): about 160 bytes more than its characters, held as long as the
 * MemoryStore holds its bucket, long after the plan has left the cache.
 */
function flat(key: string): string {
  return Buffer.from(key).toString();
}
