import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import type { AdminChange } from './admin-change.js';
import type { DecisionEvent, Refusal } from './decision.js';
import { ConfigError, type WarningCode, warningCodes } from './errors.js';
import { canonicalAppKey, type NameCase } from './limits/app-key.js';
import {
  type Category,
  categories,
  categoryRuleSchemas,
  defaultTable,
  type Overrides,
  positive,
  type QuotaTable,
  sharedFigures,
  tableSchema,
} from './limits/table.js';
import type { Logger } from './log.js';
import type { MembershipLedger, MembershipSource } from './membership/ledger.js';
import { MemoryStore } from './store/memory-store.js';
import type { Store } from './store/store.js';

/** An app key, `org#app`: the org and app names of the path, joined by `#` (see `appKeyOf`). */
export type AppKey = `${string}#${string}`;
/** An edition is a name in the quota table: `community` and `enterprise` in the default one. */
export type Edition = string;
export type EditionResolver = (appKey: string, req: Request) => Edition | Promise<Edition>;
/** `draft` is `draft-8`; `draft-6`, `draft-7` and `legacy` report the tightest policy alone. */
export type HeaderStyle = 'draft' | 'draft-8' | 'draft-7' | 'draft-6' | 'legacy' | false;
/** `false` silences every warning, `{ WRN_…: false }` one. */
export type Validate = boolean | { readonly [C in WarningCode]?: boolean };
export type { Overrides };
export type StoreErrorPolicy = 'fallback' | 'allow' | 'deny';

/**
 * Overrides kept elsewhere (a database of paid add-ons), asked per app like an edition resolver:
 * once per `editionCacheMs`, concurrent requests sharing one call.
 */
export interface OverridesSource {
  get(appKey: string): Overrides | undefined | Promise<Overrides | undefined>;
}
/** `enforce` refuses; `report` decides, counts and reports exactly the same, but lets every request through. */
export type Mode = 'enforce' | 'report';

export type { Logger } from './log.js';

/** A prom-client `Registry`, as far as the options check it. */
export interface MetricsRegistry {
  registerMetric(metric: unknown): void;
}

const positiveInt = (what = 'must be a positive integer') => z.number({ error: what }).int(what).positive(what);
const fn = <T>(what: string) => z.custom<T>((value) => typeof value === 'function', what);

const overridesSchema = z.strictObject(
  Object.fromEntries(categories.map((c) => [c, categoryRuleSchemas[c].partial().optional()])),
) as unknown as z.ZodType<Overrides>;

const optionsSchema = z.strictObject({
  edition: z
    .union([z.string().min(1), fn<EditionResolver>('')], {
      error: 'must be an edition name or a function (appKey, req) => edition',
    })
    .default('community'),
  /** How long a resolver's answer is kept per app. */
  editionCacheMs: positiveInt().default(60_000),
  table: tableSchema.optional(),
  /** Downloads per second of the one bucket every app and process on the store shares (`files` downloads). */
  clusterDownloadsPerSecond: positive.default(300),
  /** Figures by app key; a source (`OverridesSource`) is taken out before the schema runs. */
  overrides: z.record(z.string(), overridesSchema).default({}),
  store: z
    .custom<Store>(
      (value) => typeof (value as Store | undefined)?.take === 'function',
      'must be a store (an object with take())',
    )
    .optional(),
  /** The rate-limit headers' form: the IETF draft's successive versions, `X-RateLimit-*`, or none. */
  headers: z
    .union([z.enum(['draft', 'draft-8', 'draft-7', 'draft-6', 'legacy']), z.literal(false)], {
      error: "must be 'draft', 'draft-8', 'draft-7', 'draft-6', 'legacy' or false",
    })
    .default('draft'),
  onStoreError: z
    .enum(['fallback', 'allow', 'deny'], { error: "must be 'fallback', 'allow' or 'deny'" })
    .default('fallback'),
  /** A store call slower than this counts as a failure. */
  storeTimeoutMs: positiveInt().default(50),
  /**
   * How many processes share the store: while it is down, each one's fallback buckets hold this
   * share of every figure, so that together they admit no more than the limit.
   */
  fallbackProcesses: positiveInt().default(1),
  /** An edition resolver that has not answered in this long has failed. */
  resolverTimeoutMs: positiveInt().default(1000),
  keyPrefix: z
    .string()
    .regex(/^[^{}:]+$/, 'must be a non-empty string without {, } or :')
    .default('imrl'),
  dailyQuota: z
    .strictObject({
      /** IANA time zone whose midnight starts the day. */
      timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone such as UTC or Asia/Shanghai').default('UTC'),
      /** `recipient`: a message to 5 users counts 5; `call`: it counts 1. */
      countBy: z.enum(['recipient', 'call'], { error: "must be 'recipient' or 'call'" }).default('recipient'),
    })
    .default({ timeZone: 'UTC', countBy: 'recipient' }),
  /**
   * Who counts memberships: the built-in ledger (default), the IM server's own `count()`, a ledger of
   * your own, or `false` (no caps).
   */
  membership: z
    .union(
      [
        z.custom<MembershipSource>((value) => typeof (value as MembershipSource | undefined)?.count === 'function'),
        z.custom<MembershipLedger>((value) => typeof (value as MembershipLedger | undefined)?.reserve === 'function'),
        z.literal('ledger'),
        z.literal(false),
      ],
      { error: "must be a membership source (an object with count()), a ledger, 'ledger' or false" },
    )
    .default('ledger'),
  /**
   * How long a join's reservation holds its place before the handler answers: past this it lapses,
   * so a handler that never answers, or an undo that failed, cannot keep it forever. Keep it above
   * the slowest join: a 2xx that comes after the hold lapsed is not counted.
   */
  membershipHoldMs: positiveInt().default(60_000),
  /**
   * The app's own body parser (`express.json({ limit, verify })`), or several: run on a request
   * whose checks need the body when no parser ran before the limiter, so the app's options apply
   * to every body once whichever order they are mounted in.
   */
  bodyParser: z
    .union([fn<RequestHandler>(''), z.array(fn<RequestHandler>('')).min(1)], {
      error: 'must be a body-parsing middleware such as express.json(), or a list of them',
    })
    .optional(),
  /**
   * Where the catalog's `/{org}/{app}/…` begins in the full request path: `'/v1'`, `'/api'` (a
   * version or global prefix), or a pattern matched at the path's start (`/^\/v\d+/`). Without it,
   * the limiter classifies the path below its own mount point. See README → Mounting.
   */
  basePath: z
    .custom<string | RegExp>(
      (value) =>
        value instanceof RegExp ||
        (typeof value === 'string' && /^(\/[\x21-\x22\x24-\x2e\x30-\x3e\x40-\x7e]+)*\/?$/.test(value)),
      "must be a path prefix such as '/v1' (ASCII, from a leading slash, no ? or #) or a RegExp",
    )
    .optional(),
  /** Whether org, app and user names that differ only in letter case are one name (`insensitive`) or two. */
  nameCase: z
    .enum(['insensitive', 'sensitive'], { error: "must be 'insensitive' or 'sensitive'" })
    .default('insensitive'),
  /** The longest org or app name; a longer one is refused before it names any state. */
  appNameMaxChars: positiveInt().default(64),
  /**
   * Refusals remembered in this process until the store said a token can exist again (at most
   * `maxMs`), so a flood against an empty bucket is refused without a store call; `false`: none.
   */
  refusalCache: z
    .union(
      [
        z.literal(false),
        z.strictObject({
          maxEntries: positiveInt().default(10_000),
          maxBytes: positiveInt().default(4 * 1024 * 1024),
          maxMs: positiveInt().default(1000),
        }),
      ],
      { error: 'must be false or { maxEntries?, maxBytes?, maxMs? }' },
    )
    .default({ maxEntries: 10_000, maxBytes: 4 * 1024 * 1024, maxMs: 1000 }),
  /** Apps whose compiled rules are kept; the oldest is dropped past this. */
  maxCachedApps: positiveInt().default(10_000),
  /** Called once for every classified request, synchronously after the decision; never awaited. */
  onDecision: fn<(event: DecisionEvent) => void>('must be a function (event) => void').optional(),
  /** Prometheus metrics on a prom-client `Registry`; prom-client is loaded only when this is set. */
  metrics: z
    .strictObject(
      {
        registry: z.custom<MetricsRegistry>(
          (value) => typeof (value as MetricsRegistry | undefined)?.registerMetric === 'function',
          'must be a prom-client Registry (an object with registerMetric())',
        ),
        /** Adds an `app` label (`org#app`) to the request counter: one series per app. */
        appLabel: z.boolean({ error: 'must be true or false' }).default(false),
      },
      { error: 'must be { registry, appLabel? }' },
    )
    .optional(),
  /** `'enforce'` (default), `'report'`, or per app and category: `(appKey, category) => mode`. */
  mode: z
    .union([z.enum(['enforce', 'report']), fn<(appKey: string, category: Category) => Mode>('')], {
      error: "must be 'enforce', 'report' or a function (appKey, category) => mode",
    })
    .default('enforce'),
  /**
   * Told of every run-time change (edition, overrides, mode, reset), from the admin router or the
   * app's code, after the one log line each gets: for the app's audit log. Never awaited; a throw is ignored.
   */
  onAdminChange: fn<(change: AdminChange) => void>('must be a function (change) => void').optional(),
  /** A request it returns true for is neither classified nor counted (health checks, an internal key). */
  skip: fn<(req: Request) => boolean>('must be a function (req) => boolean').optional(),
  /** Answers a refusal instead of the IM error body: `(req, res, refusal) => …`. */
  onRefused: fn<(req: Request, res: Response, refusal: Refusal) => unknown>(
    'must be a function (req, res, refusal)',
  ).optional(),
  /** Which warnings for a limiter mounted wrong are logged (`validations.ts`): all by default. */
  validate: z
    .union(
      [z.boolean(), z.strictObject(Object.fromEntries(warningCodes.map((code) => [code, z.boolean().optional()])))],
      {
        error: `must be true, false or an object of ${warningCodes.join(', ')} to true or false`,
      },
    )
    .default(true) as unknown as z.ZodDefault<z.ZodType<Validate>>,
  logger: z
    .custom<Logger>((value) => typeof (value as Logger | undefined)?.warn === 'function', 'must have warn()')
    .default(console),
});

export type Options = Omit<z.input<typeof optionsSchema>, 'overrides'> & {
  /** Figures by app key (`{ 'acme#chat': { messages: { ratePerSecond: 100 } } }`), or a source asked per app. */
  overrides?: Readonly<Record<AppKey, Overrides>> | OverridesSource | undefined;
};
export type Config = Readonly<
  Omit<z.output<typeof optionsSchema>, 'table' | 'store' | 'bodyParser'> & {
    overridesSource: OverridesSource | undefined;
    table: QuotaTable;
    store: Store;
    editions: readonly string[];
    bodyParsers: readonly RequestHandler[];
  }
>;

/** Validates options once, at start-up, into a frozen config; throws `ConfigError` naming the path. */
export function parseOptions(options: unknown = {}): Config {
  const given = options ?? {};
  // a source is told apart here: in a union with the record, a bad figure would lose its path
  const overrides = (given as { overrides?: unknown }).overrides;
  const overridesSource = isOverridesSource(overrides) ? overrides : undefined;
  const parsed = optionsSchema.safeParse(overridesSource === undefined ? given : { ...given, overrides: {} });
  if (!parsed.success) throw toConfigError(parsed.error);
  const table = parsed.data.table ?? defaultTable;
  const editions = Object.keys(table);
  if (editions.length === 0) throw new ConfigError('ERR_INVALID_OPTION', 'table', 'must name at least one edition');
  const { edition, bodyParser, nameCase, ...rest } = parsed.data;
  if (typeof edition === 'string') assertEdition(editions, edition, 'edition');
  return Object.freeze({
    ...rest,
    edition,
    nameCase,
    table,
    editions,
    overrides: canonicalOverrides(rest.overrides, nameCase),
    overridesSource,
    store: rest.store ?? new MemoryStore({ logger: rest.logger }),
    bodyParsers: bodyParser === undefined ? [] : [bodyParser].flat(),
  });
}

/** An app key as the limiter keys state (`Acme#Chat` is `acme#chat`); throws `ConfigError` naming `path`. */
export function assertAppKey(key: unknown, nameCase: NameCase, path: string): string {
  const canonical = typeof key === 'string' ? canonicalAppKey(key, nameCase) : undefined;
  if (canonical === undefined) {
    throw new ConfigError('ERR_INVALID_OPTION', path, `${JSON.stringify(key)} is not an app key 'org#app'`);
  }
  return canonical;
}

/** Overrides checked by the schema of the `overrides` option; throws `ConfigError` naming `path` and the figure. */
export function parseOverrides(value: unknown, path: string): Overrides {
  const parsed = overridesSchema.safeParse(value);
  if (!parsed.success) throw toConfigError(parsed.error, path);
  return parsed.data;
}

const isOverridesSource = (value: unknown): value is OverridesSource =>
  typeof (value as OverridesSource | undefined)?.get === 'function';

function canonicalOverrides(overrides: Record<string, Overrides>, nameCase: NameCase): Record<string, Overrides> {
  const canonical: Record<string, Overrides> = {};
  for (const [key, value] of Object.entries(overrides)) {
    const appKey = assertAppKey(key, nameCase, `overrides.${key}`);
    if (Object.hasOwn(canonical, appKey)) {
      throw new ConfigError('ERR_INVALID_OPTION', `overrides.${key}`, `names the same app as another key (${appKey})`);
    }
    canonical[appKey] = value;
  }
  return canonical;
}

export function assertEdition(editions: readonly string[], edition: unknown, path: string): asserts edition is Edition {
  if (typeof edition !== 'string' || !editions.includes(edition)) {
    throw new ConfigError(
      'ERR_UNKNOWN_EDITION',
      path,
      `unknown edition ${JSON.stringify(edition)}; the table names ${editions.join(', ')}`,
    );
  }
}

export function assertMode(mode: unknown, path: string): asserts mode is Mode {
  if (mode !== 'enforce' && mode !== 'report') {
    throw new ConfigError('ERR_INVALID_OPTION', path, `must be 'enforce' or 'report', not ${JSON.stringify(mode)}`);
  }
}

export function assertCategory(category: unknown, path: string): asserts category is Category {
  if (!categories.includes(category as Category)) {
    throw new ConfigError(
      'ERR_UNKNOWN_CATEGORY',
      path,
      `unknown category ${JSON.stringify(category)}; expected one of ${categories.join(', ')}`,
    );
  }
}

function toConfigError(error: z.ZodError, prefix = ''): ConfigError {
  const issue = error.issues[0] as z.core.$ZodIssue;
  const path = [...(prefix === '' ? [] : [prefix]), ...issue.path.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') {
    // a figure every app shares, given per app or per edition: say where it belongs
    const shared = issue.keys.find((key) => sharedFigures.includes(key));
    const key = shared ?? (issue.keys[0] as string);
    const at = path ? `${path}.${key}` : key;
    if (shared === undefined) return new ConfigError('ERR_UNKNOWN_OPTION', at, 'is not a known option');
    return new ConfigError(
      'ERR_INVALID_OPTION',
      at,
      `is shared by every app: set it once for the cluster, as the option ${shared}, not per app or per edition`,
    );
  }
  return new ConfigError('ERR_INVALID_OPTION', path, issue.message);
}

function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}
