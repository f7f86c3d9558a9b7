// The editions, figures and caps that docs/quotas.md shows: type-checked by `npm run typecheck`,
// run by test/examples.test.ts.
import { defaultTable, type EditionRules, imRateLimit } from 'im-rate-limit';

/** What your own database knows of each app. */
export interface Accounts {
  planOf(appKey: string): Promise<string | undefined>;
  joinedCount(appKey: string, kind: 'groups' | 'chatrooms', userId: string): Promise<number>;
}

// #region editions
export function byPlan(db: Accounts) {
  return imRateLimit({
    // asked once per app per editionCacheMs; a throw or an unknown name holds the app to the table's first
    edition: async (appKey) => (await db.planOf(appKey)) ?? 'community',
    overrides: { 'acme#chat': { messages: { ratePerSecond: 100 } } }, // a customer who bought 100/s
  });
}
// #endregion

// #region figures
export function figures(db: Accounts) {
  return imRateLimit({
    dailyQuota: { timeZone: 'Asia/Shanghai' }, // the day starts at midnight there; countBy: 'call' counts sends
    overrides: {
      'acme#chat': { groups: { maxJoinedPerUser: 2000 }, messages: { dailyPushQuota: null } }, // null: no quota
      'acme#video': { files: { downloadBytesPerSecond: 2 * 1024 * 1024 } }, // downloads paced to 2 MiB/s
    },
    membership: { count: (appKey, kind, userId) => db.joinedCount(appKey, kind, userId) }, // your own count
  });
}
// #endregion

// #region table
/** A plan between the two: the community figures at 20 calls a second, and 100,000 pushes a day. */
const community = defaultTable.community as EditionRules;
const pro: EditionRules = { ...community, messages: { ...community.messages, ratePerSecond: 20, dailyPushQuota: 1e5 } };

export const withAProPlan = () =>
  imRateLimit({
    table: { ...defaultTable, pro },
    edition: (appKey) => (appKey.startsWith('pro-') ? 'pro' : 'community'),
  });
// #endregion
