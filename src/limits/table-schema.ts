/**
 * The schemas that validate a quota table and overrides: every figure bounded, and none of another
 * category. The types they validate are those of `table.ts`, written by hand so that the published
 * types hold no zod type.
 */
import { z } from 'zod';
import type { Category, RulesByCategory } from './table.js';

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
export const sharedFigures: readonly string[] = ['clusterDownloadsPerSecond', 'clusterDownloadsShards'];

/** Each schema takes exactly the figures `RulesByCategory` declares for its category: checked at compile time. */
type Holds<T extends true> = T;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The same type, and the same keys: an optional key on one side alone passes `Same`. */
type Exact<A, B> = Same<A, B> extends true ? Same<keyof A, keyof B> : false;
// biome-ignore lint/correctness/noUnusedVariables: a check at compile time, never used
type SchemasMatchRules = Holds<
  { [C in Category]: Exact<z.infer<(typeof categoryRuleSchemas)[C]>, RulesByCategory[C]> }[Category]
>;

const editionRulesSchema = z.strictObject(categoryRuleSchemas);
/** A quota table: rules for each edition it names. */
export const tableSchema = z.record(z.string().min(1), editionRulesSchema);
