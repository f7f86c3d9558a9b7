/**
 * The options of `imRateLimit()`, written by hand so that each one is documented where a user's
 * editor shows it. `config.ts` validates them with a schema that is checked against this interface
 * at compile time, both ways: an option added to one and not the other does not compile.
 *
 * Each union a value of an option takes (the mode, the headers' form, `onStoreError`…) is declared
 * once, as a list of its values here or in the module that interprets it, and the schema is built
 * from that list.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { AdminChange } from './admin-change.js';
import type { DecisionEvent, Refusal } from './decision.js';
import type { WarningCode } from './errors.js';
import type { NameCase } from './limits/app-key.js';
import type { BasePath } from './limits/classify.js';
import type { Category, Overrides, QuotaTable } from './limits/table.js';
import type { Logger } from './log.js';
import type { StoreErrorPolicy } from './store/failure-policy.js';
import type { MembershipLedger, MembershipSource } from './store/ledger.js';
import type { Store } from './store/store.js';

/** An app key, `org#app`: the org and app names of the path, joined by `#` (see `appKeyOf`). */
export type AppKey = `${string}#${string}`;
/** An edition is a name in the quota table: `community` and `enterprise` in the default one. */
export type Edition = string;
/** Names an app's edition from its key and a request of it; asked once per app per `editionCacheMs`. */
export type EditionResolver = (appKey: string, req: Request) => Edition | Promise<Edition>;

/** The forms of the rate-limit headers, `false` aside: `draft` is `draft-8`. */
export const headerStyles = ['draft', 'draft-8', 'draft-7', 'draft-6', 'legacy'] as const;
/** `draft` is `draft-8`; `draft-6`, `draft-7` and `legacy` report the tightest policy alone; `false`: no headers. */
export type HeaderStyle = (typeof headerStyles)[number] | false;

export const modes = ['enforce', 'report'] as const;
/** `enforce` refuses; `report` decides, counts and reports exactly the same, but lets every request through. */
export type Mode = (typeof modes)[number];
/** The mode of one app's category, asked per request. */
export type ModeResolver = (appKey: string, category: Category) => Mode;

export const dailyCounts = ['recipient', 'call'] as const;
/** `recipient`: a message to 5 users counts 5 against the daily push quota; `call`: it counts 1. */
export type DailyCount = (typeof dailyCounts)[number];

/** `false` silences every warning for a limiter mounted wrong, `{ WRN_…: false }` one. */
export type Validate = boolean | { readonly [C in WarningCode]?: boolean };

/**
 * Overrides kept elsewhere (a database of paid add-ons), asked per app like an edition resolver:
 * once per `editionCacheMs`, concurrent requests sharing one call.
 */
export interface OverridesSource {
  get(appKey: string): Overrides | undefined | Promise<Overrides | undefined>;
}

/** A prom-client `Registry`, as far as the options check it. */
export interface MetricsRegistry {
  registerMetric(metric: unknown): void;
}

export interface MetricsOptions {
  /** The prom-client `Registry` the metrics are registered on. */
  registry: MetricsRegistry;
  /** Adds an `app` label (`org#app`) to the request counter: one series per app. Default `false`. */
  appLabel?: boolean | undefined;
}

export interface DailyQuotaOptions {
  /** The IANA time zone whose midnight starts the day of the daily push quota. Default `'UTC'`. */
  timeZone?: string | undefined;
  /** How a send counts against the daily push quota. Default `'recipient'`. */
  countBy?: DailyCount | undefined;
}

export interface RefusalCacheOptions {
  /** Refusals remembered at most. Default 10,000. */
  maxEntries?: number | undefined;
  /** Bytes the remembered refusals take at most. Default 4 MiB (4,194,304). */
  maxBytes?: number | undefined;
  /** Milliseconds a refusal is remembered at most, however long the store said to wait. Default 1000. */
  maxMs?: number | undefined;
}

/**
 * Who counts memberships for the group and chat-room caps: `'ledger'`, the built-in ledger on the
 * store; a source, the IM server's own `count()`; a ledger of your own; or `false`, no caps.
 */
export type MembershipOption = 'ledger' | MembershipSource | MembershipLedger | false;

/** The options of `imRateLimit()`; every one is optional. */
export interface Options {
  /**
   * The edition every app is on (a name of `table`), or a resolver naming each app's.
   * Default `'community'`.
   */
  edition?: Edition | EditionResolver | undefined;
  /** Milliseconds a resolver's edition (and an overrides source's answer) is kept per app. Default 60,000. */
  editionCacheMs?: number | undefined;
  /** The quota table: the figures of each edition. Default `defaultTable` (`community`, `enterprise`). */
  table?: QuotaTable | undefined;
  /**
   * Downloads per second (`files` downloads) of the one bucket every app and every process on the
   * store shares. Default 300.
   */
  clusterDownloadsPerSecond?: number | undefined;
  /**
   * Buckets the cluster-wide downloads bucket is split into, under hash tags spread over a Redis
   * Cluster's masters, each with its share of the rate and burst: a download takes from one (a
   * second when that one has none). 1 to 1,024, at most the burst (`clusterDownloadsPerSecond`
   * rounded down). Default 1: one bucket, exact, on one master. See README → Cluster-wide downloads on a Redis Cluster.
   */
  clusterDownloadsShards?: number | undefined;
  /**
   * Figures by app key (`{ 'acme#chat': { messages: { ratePerSecond: 100 } } }`), or a source asked
   * per app. Default none.
   */
  overrides?: Readonly<Record<AppKey, Overrides>> | OverridesSource | undefined;
  /** Where buckets, windows and run-time settings are kept. Default a new `MemoryStore` (this process alone). */
  store?: Store | undefined;
  /**
   * The rate-limit headers' form: the IETF draft's successive versions, `X-RateLimit-*` (`legacy`),
   * or none (`false`). Default `'draft'`.
   */
  headers?: HeaderStyle | undefined;
  /**
   * What a request gets while the store fails: `fallback`, buckets in this process alone; `allow`,
   * admitted unchecked; `deny`, 503. Default `'fallback'`.
   */
  onStoreError?: StoreErrorPolicy | undefined;
  /** Milliseconds after which a store call counts as failed. Default 50. */
  storeTimeoutMs?: number | undefined;
  /**
   * How many processes share the store: while it is down, each one's fallback buckets hold this
   * share of every figure, so that together they admit no more than the limit. Default 1.
   */
  fallbackProcesses?: number | undefined;
  /** Milliseconds after which an edition resolver (or overrides source) that has not answered has failed. Default 1000. */
  resolverTimeoutMs?: number | undefined;
  /** The first part of every storage key; no `{`, `}` or `:`. Default `'imrl'`. */
  keyPrefix?: string | undefined;
  /** When the daily push quota's day starts, and what it counts. Default `{ timeZone: 'UTC', countBy: 'recipient' }`. */
  dailyQuota?: DailyQuotaOptions | undefined;
  /** Who counts memberships for the group and chat-room caps. Default `'ledger'`. */
  membership?: MembershipOption | undefined;
  /**
   * Milliseconds a join's reservation holds its place before the handler answers: past this it
   * lapses, so a handler that never answers, or an undo that failed, cannot keep it forever. Keep it
   * above the slowest join: a 2xx that comes after the hold lapsed is not counted. Default 60,000.
   */
  membershipHoldMs?: number | undefined;
  /**
   * The app's own body parser (`express.json({ limit, verify })`), or several: run on a request
   * whose checks need the body when no parser ran before the limiter, so the app's options apply
   * to every body once whichever order they are mounted in. Default none.
   */
  bodyParser?: RequestHandler | RequestHandler[] | undefined;
  /**
   * Where the catalog's `/{org}/{app}/…` begins in the full request path: `'/v1'`, `'/api'` (a
   * version or global prefix), or a pattern matched at the path's start (`/^\/v\d+/`). Default none:
   * the limiter classifies the path below its own mount point. See docs/mounting.md.
   */
  basePath?: BasePath | undefined;
  /** Whether org, app and user names that differ only in letter case are one name or two. Default `'insensitive'`. */
  nameCase?: NameCase | undefined;
  /** The longest org or app name, in characters; a longer one is refused before it names any state. Default 64. */
  appNameMaxChars?: number | undefined;
  /**
   * Refusals remembered in this process until the store said a token can exist again (at most
   * `maxMs`), so a flood against an empty bucket is refused without a store call; `false`: none.
   * Default `{ maxEntries: 10_000, maxBytes: 4 MiB, maxMs: 1000 }`.
   */
  refusalCache?: RefusalCacheOptions | false | undefined;
  /** Apps whose compiled rules are kept in memory; the oldest is dropped past this. Default 10,000. */
  maxCachedApps?: number | undefined;
  /** Called once for every classified request, synchronously after the decision; never awaited. Default none. */
  onDecision?: ((event: DecisionEvent) => void) | undefined;
  /** Prometheus metrics on a prom-client `Registry`; prom-client is loaded only when this is set. Default none. */
  metrics?: MetricsOptions | undefined;
  /** `'enforce'`, `'report'`, or per app and category: `(appKey, category) => mode`. Default `'enforce'`. */
  mode?: Mode | ModeResolver | undefined;
  /**
   * Told of every run-time change (edition, overrides, mode, reset), from the admin router or the
   * app's code, after the one log line each gets: for the app's audit log. Never awaited; a throw
   * is ignored. Default none.
   */
  onAdminChange?: ((change: AdminChange) => void) | undefined;
  /** A request it returns true for is neither classified nor counted (health checks, an internal key). Default none. */
  skip?: ((req: Request) => boolean) | undefined;
  /** Answers a refusal instead of the IM error body: `(req, res, refusal) => …`. Default none. */
  onRefused?: ((req: Request, res: Response, refusal: Refusal) => unknown) | undefined;
  /** Which warnings for a limiter mounted wrong are logged. Default `true`: all. */
  validate?: Validate | undefined;
  /** Where warnings go (`warn(fields, message)`: pino, or `console`). Default `console`. */
  logger?: Logger | undefined;
}
