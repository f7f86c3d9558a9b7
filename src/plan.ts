import { burstOf, type Category, type EditionRules, type Overrides } from './limits/table.js';
import type { Edition } from './options.js';
import { appTag, clusterDownloadsKey, keyOf } from './store/keys.js';
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
  /** File downloads: the bucket and the cluster-wide downloads bucket (not reported in headers). */
  readonly download?: CheckSet & {
    /** What a download the IM server refused gives back: its cluster-wide token, so invented apps cannot drain it. */
    readonly refundOnRejection: readonly Check[];
  };
}

/** Checks every app's plan shares: one figure for the cluster, whatever each app's edition and overrides. */
export interface SharedChecks {
  readonly keyPrefix: string;
  /** The cluster-wide downloads bucket, at the `clusterDownloadsPerSecond` option. */
  readonly downloads: BucketCheck;
  /** What a download the IM server refused gives back: its cluster-wide token, so invented apps cannot drain it. */
  readonly downloadRefund: readonly Check[];
}

export function sharedChecks(keyPrefix: string, clusterDownloadsPerSecond: number): SharedChecks {
  const downloads: BucketCheck = Object.freeze({
    type: 'bucket',
    key: clusterDownloadsKey(keyPrefix),
    capacity: Math.max(1, Math.floor(clusterDownloadsPerSecond)),
    intervalMs: 1000 / clusterDownloadsPerSecond,
    cost: 1,
  });
  return Object.freeze({ keyPrefix, downloads, downloadRefund: Object.freeze([{ ...downloads, cost: -1 }]) });
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
    plan.download = {
      checks: [bucket, shared.downloads],
      policies: plan.rate.policies,
      refundOnRejection: shared.downloadRefund,
    };
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
