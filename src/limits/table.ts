import { z } from 'zod';

/** The ten interface categories of the IM REST API, in the order its flow-limiting page lists them. */
export const categories = [
  'users',
  'contacts',
  'blocks',
  'bans',
  'offline',
  'history',
  'files',
  'messages',
  'groups',
  'chatrooms',
] as const;
export type Category = (typeof categories)[number];

/**
 * Every figure is bounded, so that no override can make a bucket's arithmetic leave exact numbers
 * (a rate of 1e-320 makes its refill interval infinite, and every request admitted): a bucket
 * holds at most 1e6 tokens, each refilled within 1e9 ms, so it is full within 1e15 ms, inside 2^53.
 */
const MIN_RATE = 1e-6; // one call in about 12 days
const MAX_RATE = 1e6;
const MAX_COUNT = 1e9;
export const positive = z
  .number({ error: 'must be a positive number' })
  .positive('must be a positive number')
  .min(MIN_RATE, `must be at least ${MIN_RATE} (one call in about 12 days)`)
  .max(MAX_RATE, `must be at most ${MAX_RATE}`);
const count = z
  .number({ error: 'must be a positive integer' })
  .int('must be a positive integer')
  .positive('must be a positive integer')
  .max(MAX_COUNT, `must be at most ${MAX_COUNT}`);

/** Figures every category has: a token bucket refilled at `ratePerSecond`, holding `burst` tokens. */
const rate = {
  ratePerSecond: positive,
  /** Bucket capacity; default one second's worth of `ratePerSecond` (at least 1). */
  burst: count.max(MAX_RATE, `must be at most ${MAX_RATE}`).optional(),
};
const userIds = { userIdMaxChars: count };
/** The longest list of user IDs one request may name (`usernames`, `members`, a comma list in the path). */
const idLists = { idsPerRequestMax: count };
const membership = { maxJoinedPerUser: count, ...idLists };

/**
 * One schema per category: a figure that belongs to another category (say `users.messageMaxBytes`)
 * is an unknown key, so a typo cannot silently do nothing.
 */
export const categoryRuleSchemas = {
  users: z.strictObject({ ...rate, ...userIds, ...idLists, bulkRegistrationMax: count }),
  contacts: z.strictObject({ ...rate, ...userIds, ...idLists }),
  blocks: z.strictObject(rate),
  bans: z.strictObject(rate),
  offline: z.strictObject(rate),
  history: z.strictObject(rate),
  files: z.strictObject({ ...rate, downloadBytesPerSecond: count }),
  messages: z.strictObject({
    ...rate,
    messageMaxBytes: count,
    /** The longest recipient list (`to`, `target`, `users`) one send may name. */
    recipientsPerRequestMax: count,
    /** System push messages per app per calendar day; `null`: no daily quota. */
    dailyPushQuota: count.nullable(),
  }),
  groups: z.strictObject({ ...rate, ...membership }),
  chatrooms: z.strictObject({ ...rate, ...membership }),
} satisfies Record<Category, z.ZodType>;

/**
 * Figures of a bucket every app shares: each is set once, as the option of the same name, never per
 * app or per edition (apps taking one bucket at their own rates would each refill it at theirs).
 */
export const sharedFigures: readonly string[] = ['clusterDownloadsPerSecond'];

export type CategoryRules<C extends Category = Category> = z.infer<(typeof categoryRuleSchemas)[C]>;
/** Per-app overrides of any figure, by category: `{ messages: { ratePerSecond: 100 } }`. */
export type Overrides = { readonly [C in Category]?: Partial<CategoryRules<C>> | undefined };
export type EditionRules = { readonly [C in Category]: Readonly<CategoryRules<C>> };

const editionRulesSchema = z.strictObject(categoryRuleSchemas);
/** A quota table: rules for each edition it names (the default names `community` and `enterprise`). */
export const tableSchema = z.record(z.string().min(1), editionRulesSchema);
export type QuotaTable = Readonly<Record<string, EditionRules>>;

/**
 * The default figures of one edition, from its per-app call rate: only the rate differs. Lists of
 * IDs are held to the 60 of bulk registration, recipients to the 600 the IM API documents per send.
 */
function edition(ratePerSecond: number, dailyPushQuota: number | null): EditionRules {
  const perSecond = { ratePerSecond };
  const ids = { idsPerRequestMax: 60 };
  return {
    users: { ...perSecond, userIdMaxChars: 64, bulkRegistrationMax: 60, ...ids },
    contacts: { ...perSecond, userIdMaxChars: 64, ...ids },
    blocks: perSecond,
    bans: perSecond,
    offline: perSecond,
    history: { ratePerSecond: 1 / 60, burst: 1 },
    files: { ...perSecond, downloadBytesPerSecond: 500 * 1024 },
    messages: { ...perSecond, messageMaxBytes: 4096, recipientsPerRequestMax: 600, dailyPushQuota },
    groups: { ...perSecond, maxJoinedPerUser: 500, ...ids },
    chatrooms: { ...perSecond, maxJoinedPerUser: 500, ...ids },
  };
}

/** The default preset: the IM platform's published limits, edition by edition. */
export const defaultTable: QuotaTable = deepFreeze({
  community: edition(10, 20_000),
  enterprise: edition(30, null),
});

/** Capacity of a category's bucket: `burst`, or one second's worth of its rate. */
export function burstOf(rules: { ratePerSecond: number; burst?: number | undefined }): number {
  return rules.burst ?? Math.max(1, Math.floor(rules.ratePerSecond));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
