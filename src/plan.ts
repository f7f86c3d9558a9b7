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
  /** Every category named, so that every plan has one shape and finding a category stays one fast load. */
  private readonly compiled: { [C in Category]: CategoryPlan | undefined } = {
    users: undefined,
    contacts: undefined,
    blocks: undefined,
    bans: undefined,
    offline: undefined,
    history: undefined,
    files: undefined,
    messages: undefined,
    groups: undefined,
    chatrooms: undefined,
  };

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

/** What a category's checks are made of under one set of rules, whatever the app. */
interface CategoryFigures {
  readonly capacity: number;
  readonly intervalMs: number;
  readonly policies: readonly Policy[];
  /** A send's: the bucket's and the day's, when the category has a daily push quota. */
  readonly daily?: { readonly limit: number; readonly policies: readonly Policy[] };
}

/**
 * Figures by rules and category, worked out once: every app without overrides has its edition's
 * rules (the table's row), so a plan compiled for an app the cache had let go costs only its keys
 * and checks. The rules of an app with overrides are its own, and go with its plan.
 */
const figuresByRules = new WeakMap<EditionRules, { [C in Category]?: CategoryFigures }>();

function figuresOf(rules: EditionRules, category: Category): CategoryFigures {
  let byCategory = figuresByRules.get(rules);
  if (byCategory === undefined) {
    byCategory = {};
    figuresByRules.set(rules, byCategory);
  }
  let figures = byCategory[category];
  if (figures === undefined) {
    const rule = rules[category];
    const capacity = burstOf(rule);
    const policy: Policy = Object.freeze({
      name: category,
      limit: capacity,
      windowSeconds: Math.ceil(capacity / rule.ratePerSecond - 1e-9), // 30 ÷ 30/s is 1 s, not 1.0000000000000002
    });
    const policies = Object.freeze([policy]);
    const limit = category === 'messages' ? rules.messages.dailyPushQuota : null;
    const day =
      limit === null ? undefined : Object.freeze({ name: 'messages-daily', limit, windowSeconds: DAY_SECONDS });
    figures = Object.freeze({
      capacity,
      intervalMs: 1000 / rule.ratePerSecond,
      policies,
      ...(day === undefined
        ? {}
        : { daily: Object.freeze({ limit: day.limit, policies: Object.freeze([policy, day]) }) }),
    });
    byCategory[category] = figures;
  }
  return figures;
}

/** The checks one category's requests make for one app. */
function compileCategory(appKey: string, category: Category, rules: EditionRules, shared: SharedChecks): CategoryPlan {
  const { capacity, intervalMs, policies, daily } = figuresOf(rules, category);
  const tag = appTag(appKey);
  const bucket: BucketCheck = {
    type: 'bucket',
    key: keyOf(shared.keyPrefix, tag, category, 'rate'),
    capacity,
    intervalMs,
    cost: 1,
  };
  const rate: CheckSet = { checks: [bucket], policies };
  if (daily !== undefined) {
    const day: WindowCheck = {
      type: 'window',
      key: keyOf(shared.keyPrefix, tag, category, 'daily'),
      limit: daily.limit,
      edgesMs: [], // the days around now, set per request
      cost: 1,
    };
    return { rate, send: { checks: [bucket, day], policies: daily.policies } };
  }
  if (category === 'files') {
    return {
      rate,
      download: { checks: [bucket, shared.downloadShards[0] as BucketCheck], policies, appBucket: bucket },
    };
  }
  return { rate };
}
