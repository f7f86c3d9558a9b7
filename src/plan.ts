import type { Edition } from './config.js';
import { burstOf, type Category, categories, type EditionRules } from './limits/table.js';
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

interface CategoryPlan {
  /** The app's bucket for the category. */
  readonly rate: CheckSet;
  /** Message sends in an edition with a daily push quota: the bucket and the day's window. */
  readonly send?: CheckSet;
  /** File downloads: the bucket and the cluster-wide downloads bucket (not reported in headers). */
  readonly download?: CheckSet;
}

/** One app's rules under one edition, compiled once into ready-made checks. */
export interface AppPlan {
  readonly edition: Edition;
  readonly rules: EditionRules;
  readonly categories: { readonly [C in Category]: CategoryPlan };
}

/** Compiles an app's rules into the checks each of its requests makes: done once per app and edition. */
export function compilePlan(appKey: string, edition: Edition, rules: EditionRules, keyPrefix: string): AppPlan {
  const tag = appTag(appKey);
  const compiled = {} as Record<Category, CategoryPlan>;
  for (const category of categories) {
    const rule = rules[category];
    const capacity = burstOf(rule);
    const bucket: BucketCheck = {
      type: 'bucket',
      key: keyOf(keyPrefix, tag, category, 'rate'),
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
        key: keyOf(keyPrefix, tag, category, 'daily'),
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
      const perSecond = rules.files.clusterDownloadsPerSecond;
      const downloads: BucketCheck = {
        type: 'bucket',
        key: clusterDownloadsKey(keyPrefix),
        capacity: Math.max(1, Math.floor(perSecond)),
        intervalMs: 1000 / perSecond,
        cost: 1,
      };
      plan.download = { checks: [bucket, downloads], policies: plan.rate.policies };
    }
    compiled[category] = Object.freeze(plan);
  }
  return { edition, rules, categories: compiled };
}
