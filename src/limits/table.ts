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

/** Figures every category has: a token bucket refilled at `ratePerSecond`, holding `burst` tokens. */
interface RateRules {
  /** Tokens refilled per second, each admitting one call. */
  ratePerSecond: number;
  /** Bucket capacity; default one second's worth of `ratePerSecond` (at least 1). */
  burst?: number | undefined;
}
interface UserIdRules {
  /** The longest user ID, in characters. */
  userIdMaxChars: number;
}
interface IdListRules {
  /** The longest list of user IDs one request may name (`usernames`, `members`, a comma list in the path). */
  idsPerRequestMax: number;
}
interface MembershipRules extends IdListRules {
  /** Groups (or chat rooms) one user may have joined. */
  maxJoinedPerUser: number;
}

/**
 * The figures of each category (validated by the schemas of `table-schema.ts`, checked against
 * these): a figure that belongs to another category is not one of its own.
 */
export interface RulesByCategory {
  users: RateRules & UserIdRules & IdListRules & { bulkRegistrationMax: number };
  contacts: RateRules & UserIdRules & IdListRules;
  blocks: RateRules;
  bans: RateRules;
  offline: RateRules;
  history: RateRules;
  files: RateRules & {
    /** Bytes per second one download is paced to. */
    downloadBytesPerSecond: number;
  };
  messages: RateRules & {
    /** The largest message (and its `ext`), in bytes of JSON. */
    messageMaxBytes: number;
    /** The longest recipient list (`to`, `target`, `users`) one send may name. */
    recipientsPerRequestMax: number;
    /** System push messages per app per calendar day; `null`: no daily quota. */
    dailyPushQuota: number | null;
  };
  groups: RateRules & MembershipRules;
  chatrooms: RateRules & MembershipRules;
}

export type CategoryRules<C extends Category = Category> = RulesByCategory[C];
/** Per-app overrides of any figure, by category: `{ messages: { ratePerSecond: 100 } }`. */
export type Overrides = { readonly [C in Category]?: Partial<CategoryRules<C>> | undefined };
export type EditionRules = { readonly [C in Category]: Readonly<CategoryRules<C>> };
/** A quota table: rules for each edition it names (the default names `community` and `enterprise`). */
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

/** Capacity of the cluster-wide downloads bucket (all its shards together): one second's worth, at least one. */
export function clusterDownloadsBurst(perSecond: number): number {
  return burstOf({ ratePerSecond: perSecond });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
