import type { RequestHandler } from 'express';
import { z } from 'zod';
import { ConfigError, warningCodes } from './errors.js';
import { canonicalAppKey, type NameCase, nameCases } from './limits/app-key.js';
import {
  type Category,
  categories,
  clusterDownloadsBurst,
  defaultTable,
  type Overrides,
  type QuotaTable,
} from './limits/table.js';
import { categoryRuleSchemas, positive, sharedFigures, tableSchema } from './limits/table-schema.js';
import type { Logger } from './log.js';
import {
  type DailyQuotaOptions,
  dailyCounts,
  type Edition,
  type EditionResolver,
  headerStyles,
  type MetricsOptions,
  type MetricsRegistry,
  type Mode,
  type ModeResolver,
  modes,
  type Options,
  type OverridesSource,
  type RefusalCacheOptions,
  type Validate,
} from './options.js';
import { storeErrorPolicies } from './store/failure-policy.js';
import type { MembershipLedger, MembershipSource } from './store/ledger.js';
import { MemoryStore } from './store/memory-store.js';
import type { Store } from './store/store.js';

/** The values of a union as an error message lists them: `'a', 'b'`. */
const quoted = (values: readonly string[]): string => values.map((value) => `'${value}'`).join(', ');
/** `'a', 'b' or 'c'`. */
const either = (values: readonly string[]): string => `${quoted(values.slice(0, -1))} or '${values.at(-1)}'`;

/** Shards of the cluster-wide downloads bucket: their hash tags are found at start-up (`spreadTags`). */
const MAX_DOWNLOAD_SHARDS = 1024;

const positiveInt = (what = 'must be a positive integer') => z.number({ error: what }).int(what).positive(what);
/** The type an option takes, `undefined` aside. */
type Given<K extends keyof Options> = NonNullable<Options[K]>;
const fn = <T>(what: string) => z.custom<T>((value) => typeof value === 'function', what);

const overridesSchema = z.strictObject(
  Object.fromEntries(categories.map((c) => [c, categoryRuleSchemas[c].partial().optional()])),
) as unknown as z.ZodType<Overrides, Overrides>;

const optionsSchema = z.strictObject({
  edition: z
    .union([z.string().min(1), fn<EditionResolver>('')], {
      error: 'must be an edition name or a function (appKey, req) => edition',
    })
    .default('community'),
  editionCacheMs: positiveInt().default(60_000),
  table: tableSchema.optional(),
  clusterDownloadsPerSecond: positive.default(300),
  clusterDownloadsShards: positiveInt('must be a whole number from 1 to 1024')
    .max(MAX_DOWNLOAD_SHARDS, 'must be a whole number from 1 to 1024')
    .default(1),
  // a source (`OverridesSource`) is taken out before the schema runs (see parseOptions)
  overrides: z.record(z.string(), overridesSchema).default({}),
  store: z
    .custom<Store>(
      (value) => typeof (value as Store | undefined)?.take === 'function',
      'must be a store (an object with take())',
    )
    .optional(),
  headers: z
    .union([z.enum(headerStyles), z.literal(false)], {
      error: `must be ${quoted(headerStyles)} or false`,
    })
    .default('draft'),
  onStoreError: z.enum(storeErrorPolicies, { error: `must be ${either(storeErrorPolicies)}` }).default('fallback'),
  storeTimeoutMs: positiveInt().default(50),
  fallbackProcesses: positiveInt().default(1),
  resolverTimeoutMs: positiveInt().default(1000),
  keyPrefix: z
    .string()
    .regex(/^[^{}:]+$/, 'must be a non-empty string without {, } or :')
    .default('imrl'),
  dailyQuota: z
    .strictObject({
      timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone such as UTC or Asia/Shanghai').default('UTC'),
      countBy: z.enum(dailyCounts, { error: `must be ${either(dailyCounts)}` }).default('recipient'),
    })
    .default({ timeZone: 'UTC', countBy: 'recipient' }),
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
  membershipHoldMs: positiveInt().default(60_000),
  bodyParser: z
    .union([fn<RequestHandler>(''), z.array(fn<RequestHandler>('')).min(1)], {
      error: 'must be a body-parsing middleware such as express.json(), or a list of them',
    })
    .optional(),
  basePath: z
    .custom<Given<'basePath'>>(
      (value) =>
        value instanceof RegExp ||
        (typeof value === 'string' && /^(\/[\x21-\x22\x24-\x2e\x30-\x3e\x40-\x7e]+)*\/?$/.test(value)),
      "must be a path prefix such as '/v1' (ASCII, from a leading slash, no ? or #) or a RegExp",
    )
    .optional(),
  nameCase: z.enum(nameCases, { error: `must be ${either(nameCases)}` }).default('insensitive'),
  appNameMaxChars: positiveInt().default(64),
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
  maxCachedApps: positiveInt().default(10_000),
  onDecision: fn<Given<'onDecision'>>('must be a function (event) => void').optional(),
  metrics: z
    .strictObject(
      {
        registry: z.custom<MetricsRegistry>(
          (value) => typeof (value as MetricsRegistry | undefined)?.registerMetric === 'function',
          'must be a prom-client Registry (an object with registerMetric())',
        ),
        appLabel: z.boolean({ error: 'must be true or false' }).default(false),
      },
      { error: 'must be { registry, appLabel? }' },
    )
    .optional(),
  mode: z
    .union([z.enum(modes), fn<ModeResolver>('')], {
      error: `must be ${quoted(modes)} or a function (appKey, category) => mode`,
    })
    .default('enforce'),
  onAdminChange: fn<Given<'onAdminChange'>>('must be a function (change) => void').optional(),
  skip: fn<Given<'skip'>>('must be a function (req) => boolean').optional(),
  onRefused: fn<Given<'onRefused'>>('must be a function (req, res, refusal)').optional(),
  validate: z
    .union(
      [z.boolean(), z.strictObject(Object.fromEntries(warningCodes.map((code) => [code, z.boolean().optional()])))],
      {
        error: `must be true, false or an object of ${warningCodes.join(', ')} to true or false`,
      },
    )
    .default(true) as unknown as z.ZodDefault<z.ZodType<Validate, Validate>>,
  logger: z
    .custom<Logger>((value) => typeof (value as Logger | undefined)?.warn === 'function', 'must have warn()')
    .default(console),
});

/**
 * The schema takes exactly the options the interface declares, of the same types: checked at
 * compile time both ways, and the keys too (an optional key missing on one side would pass a
 * one-way check). `overrides` aside: a source is taken out before the schema sees it.
 */
type SchemaInput = z.input<typeof optionsSchema>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;
// biome-ignore lint/correctness/noUnusedVariables: a check at compile time, never used
type OptionsMatchSchema = [
  Holds<Same<keyof SchemaInput, keyof Options>>,
  Holds<Same<Omit<SchemaInput, 'overrides'>, Omit<Options, 'overrides'>>>,
  Holds<Same<SchemaInput['overrides'], Exclude<Options['overrides'], OverridesSource>>>,
];

/** Options a config may lack: no default stands in for them. */
type Unset = 'basePath' | 'onDecision' | 'onAdminChange' | 'skip' | 'onRefused' | 'metrics';
/** Each key present, none `undefined`. */
type Filled<T> = { readonly [K in keyof T]-?: Exclude<T[K], undefined> };

/**
 * The options once validated: every default filled in, the overrides told apart from a source, the
 * body parsers a list. Written from `Options`, not inferred from the schema, as the published types are.
 */
export type Config = Filled<
  Omit<Options, Unset | 'overrides' | 'table' | 'store' | 'bodyParser' | 'dailyQuota' | 'refusalCache'>
> &
  Pick<Options, Unset> & {
    readonly overrides: Readonly<Record<string, Overrides>>;
    readonly overridesSource: OverridesSource | undefined;
    readonly table: QuotaTable;
    readonly editions: readonly string[];
    readonly store: Store;
    readonly bodyParsers: readonly RequestHandler[];
    readonly dailyQuota: Filled<DailyQuotaOptions>;
    readonly refusalCache: Filled<RefusalCacheOptions> | false;
    readonly metrics?: Filled<MetricsOptions> | undefined;
  };

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
  const burst = clusterDownloadsBurst(rest.clusterDownloadsPerSecond);
  if (rest.clusterDownloadsShards > burst) {
    throw new ConfigError(
      'ERR_INVALID_OPTION',
      'clusterDownloadsShards',
      `must be at most ${burst}, the cluster-wide bucket's burst (clusterDownloadsPerSecond rounded down), so that every shard admits at least one download (got ${rest.clusterDownloadsShards})`,
    );
  }
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
  if (!modes.includes(mode as Mode)) {
    throw new ConfigError('ERR_INVALID_OPTION', path, `must be ${either(modes)}, not ${JSON.stringify(mode)}`);
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
