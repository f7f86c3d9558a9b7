import type { Request } from 'express';
import type { Config, Edition } from './config.js';
import { StoreError } from './errors.js';
import { dayEdgesMs } from './limits/calendar.js';
import type { RouteMatch } from './limits/classify.js';
import { EditionDirectory, effectiveRules } from './limits/editions.js';
import { checkAppNames, checkPayload, type PayloadRefusal } from './limits/payload.js';
import { pushesOf } from './limits/send.js';
import { burstOf, type Category, categories, type EditionRules } from './limits/table.js';
import { MembershipGate, type PendingMembership } from './memberships.js';
import { type HeaderPlan, type PolicySpec, planHeaders } from './middleware/respond.js';
import { appTag, clusterDownloadsKey, keyOf, membershipSpace } from './store/keys.js';
import { ledgerOfSource } from './store/membership.js';
import { MemoryLedger } from './store/memory-ledger.js';
import { MemoryStore } from './store/memory-store.js';
import type { BucketCheck, Check, Reading, WindowCheck } from './store/store.js';

const DAY_MS = 86_400_000;
/** While the store is failing, one request in this long probes it; the rest go straight to the policy. */
const STORE_PROBE_INTERVAL_MS = 1000;

/** The checks one kind of request makes, with their headers formatted in advance. */
interface CheckSet {
  readonly checks: readonly Check[];
  readonly headers: HeaderPlan;
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
interface AppPlan {
  readonly edition: Edition;
  readonly tag: string;
  readonly rules: EditionRules;
  readonly categories: { readonly [C in Category]: CategoryPlan };
}

/** What follows an admitted request: its body paced, its membership change settled. */
export interface Admission {
  readonly paceBytesPerSecond?: number;
  readonly membership?: PendingMembership;
}

/** What the limiter decided about one request. */
export type Outcome =
  | {
      readonly kind: 'decided';
      readonly allowed: boolean;
      readonly headers: HeaderPlan;
      readonly readings: readonly Reading[];
      readonly checks: readonly Check[];
      readonly admission?: Admission;
    }
  | { readonly kind: 'payload'; readonly refusal: PayloadRefusal }
  | { readonly kind: 'membership'; readonly user: string; readonly membership: 'groups' | 'chatrooms' }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'unlimited'; readonly admission?: Admission };

const unavailable: Outcome = Object.freeze({ kind: 'unavailable' });
const unlimited: Outcome = Object.freeze({ kind: 'unlimited' });
const nothingMore: Admission = Object.freeze({});

const chain = <T, U>(value: T | Promise<T>, next: (value: T) => U | Promise<U>): U | Promise<U> =>
  value instanceof Promise ? value.then(next) : next(value);

/** The only place rules, keys and the store meet: a classified request in, an `Outcome` out. */
export class Limiter {
  readonly editions: EditionDirectory;
  private readonly plans = new Map<string, AppPlan>();
  private readonly memberships: MembershipGate | undefined;
  private fallback: MemoryStore | undefined;
  /** While the store fails: when to try it again. */
  private probeStoreAt = 0;
  private storeDown = false;

  constructor(readonly config: Config) {
    this.editions = new EditionDirectory(config);
    const { membership, store, logger } = config;
    if (membership !== false) {
      const ledger = membership === 'ledger' ? (store.membership ?? new MemoryLedger()) : ledgerOfSource(membership);
      this.memberships = new MembershipGate(ledger, logger, config.nameCase);
    }
  }

  /** Confirms or undoes a membership change once its response is known. */
  settle(pending: PendingMembership, succeeded: boolean, responseBody: string): Promise<void> {
    return (this.memberships as MembershipGate).settle(pending, succeeded, responseBody);
  }

  /** The effective rules of an app under its current edition (a resolver is not called for this). */
  rules(appKey: string, edition: Edition = this.editions.known(appKey)): EditionRules {
    return effectiveRules(this.config.table, edition, this.config.overrides[appKey]);
  }

  /** Decides a classified request; `body` is the parsed body when the route's checks read it. */
  decide(match: RouteMatch, body: unknown, req: Request): Outcome | Promise<Outcome> {
    const refusal = checkAppNames(match, this.config.appNameMaxChars);
    if (refusal !== undefined) return { kind: 'payload', refusal };
    const edition = this.editions.editionOf(match.appKey, req);
    if (edition instanceof Promise)
      return edition.then((resolved) => this.limit(match, this.planFor(match, resolved), body));
    return this.limit(match, this.planFor(match, edition), body);
  }

  private limit(match: RouteMatch, plan: AppPlan, body: unknown): Outcome | Promise<Outcome> {
    const refusal = checkPayload(match, body, plan.rules);
    if (refusal !== undefined) return { kind: 'payload', refusal };
    const category = plan.categories[match.category];
    let set = category.rate;
    let checks = set.checks;
    const { sends } = match.route;
    if (sends !== undefined && category.send !== undefined) {
      set = category.send;
      checks = this.withDailyCost(set.checks, this.config.dailyQuota.countBy === 'call' ? 1 : pushesOf(sends, body));
    } else if (match.route.downloadsFile && category.download !== undefined) {
      set = category.download;
      checks = set.checks;
    }
    const readings = this.take(checks);
    if (readings instanceof Promise)
      return readings.then((read) => this.conclude(match, plan, body, set, checks, read));
    return this.conclude(match, plan, body, set, checks, readings);
  }

  /** The store's readings as an outcome; admitted requests go on to `admit`. */
  private conclude(
    match: RouteMatch,
    plan: AppPlan,
    body: unknown,
    set: CheckSet,
    checks: readonly Check[],
    readings: readonly Reading[] | undefined,
  ): Outcome | Promise<Outcome> {
    if (readings === undefined) {
      return this.config.onStoreError === 'deny' ? unavailable : this.admit(match, plan, body, undefined);
    }
    let allowed = true;
    for (let i = 0; i < readings.length; i++) if (!(readings[i] as Reading).allowed) allowed = false;
    const decided = { kind: 'decided', allowed, headers: set.headers, readings, checks } as const;
    return allowed ? this.admit(match, plan, body, decided) : decided;
  }

  /** What an admitted request still needs: download pacing, a membership reservation. */
  private admit(
    match: RouteMatch,
    plan: AppPlan,
    body: unknown,
    decided: Extract<Outcome, { kind: 'decided' }> | undefined,
  ): Outcome | Promise<Outcome> {
    const { membership, downloadsFile } = match.route;
    if (!downloadsFile && (membership === undefined || this.memberships === undefined)) return decided ?? unlimited;
    const admitted = (admission: Admission): Outcome =>
      decided === undefined
        ? admission === nothingMore
          ? unlimited
          : { kind: 'unlimited', admission }
        : admission === nothingMore
          ? decided
          : { ...decided, admission };
    if (downloadsFile) return admitted({ paceBytesPerSecond: plan.rules.files.downloadBytesPerSecond });
    if (membership === undefined || this.memberships === undefined) return admitted(nothingMore);
    const space = membershipSpace(this.config.keyPrefix, plan.tag, membership.kind);
    return chain(this.memberships.begin(match, body, plan.rules, space), (step): Outcome => {
      if ('refused' in step) return { kind: 'membership', user: step.refused, membership: step.kind };
      if ('failed' in step) {
        this.config.logger.warn(
          `im-rate-limit: the membership ledger failed (${describe(step.failed)}); admitted unchecked`,
        );
        return this.config.onStoreError === 'deny' ? unavailable : admitted(nothingMore);
      }
      return step.pending === undefined ? admitted(nothingMore) : admitted({ membership: step.pending });
    });
  }

  /**
   * The daily window takes `cost` pushes over its time zone's calendar days, computed around the
   * store's clock when known (the store still picks the day by its own).
   */
  private withDailyCost(checks: readonly Check[], cost: number): Check[] {
    const [rate, day] = checks as [BucketCheck, WindowCheck];
    const { dailyQuota, store } = this.config;
    return [rate, { ...day, cost, edgesMs: dayEdgesMs(dailyQuota.timeZone, store.clock?.() ?? Date.now()) }];
  }

  /** One store call, bounded by `storeTimeoutMs`; `undefined` when it failed and the policy is not `fallback`. */
  private take(checks: readonly Check[]): readonly Reading[] | undefined | Promise<readonly Reading[] | undefined> {
    if (this.storeDown && Date.now() < this.probeStoreAt) return this.onStoreFailure(checks);
    let answer: ReturnType<Limiter['config']['store']['take']>;
    try {
      answer = this.config.store.take(checks);
    } catch (error) {
      return this.onStoreFailure(checks, error);
    }
    if (!(answer instanceof Promise)) return this.onStoreSuccess(answer);
    return withTimeout(answer, this.config.storeTimeoutMs).then(
      (readings) => this.onStoreSuccess(readings),
      (error: unknown) => this.onStoreFailure(checks, error),
    );
  }

  private onStoreSuccess(readings: readonly Reading[]): readonly Reading[] {
    if (this.storeDown) {
      this.storeDown = false;
      this.config.logger.warn('im-rate-limit: the store answers again; limits are shared again');
    }
    return readings;
  }

  private onStoreFailure(checks: readonly Check[], error?: unknown): readonly Reading[] | undefined {
    if (error !== undefined) {
      this.probeStoreAt = Date.now() + STORE_PROBE_INTERVAL_MS;
      if (!this.storeDown) {
        this.storeDown = true;
        const policy = this.config.onStoreError;
        this.config.logger.warn(
          `im-rate-limit: the store failed (${describe(error)}); policy '${policy}' until it answers again`,
        );
      }
    }
    if (this.config.onStoreError !== 'fallback') return undefined;
    this.fallback ??= new MemoryStore();
    return this.fallback.take(checks);
  }

  private planFor(match: RouteMatch, edition: Edition): AppPlan {
    const cached = this.plans.get(match.appKey);
    if (cached !== undefined && cached.edition === edition) return cached;
    if (this.plans.size >= this.config.maxCachedApps) this.plans.delete(this.plans.keys().next().value as string);
    const plan = this.compile(match.appKey, edition, this.rules(match.appKey, edition));
    this.plans.set(match.appKey, plan);
    return plan;
  }

  private compile(appKey: string, edition: Edition, rules: EditionRules): AppPlan {
    const { keyPrefix } = this.config;
    const tag = appTag(appKey);
    const compiled = {} as Record<Category, CategoryPlan>;
    for (const category of categories) {
      const rule = rules[category];
      const capacity = burstOf(rule);
      const intervalMs = 1000 / rule.ratePerSecond;
      const bucket: BucketCheck = {
        type: 'bucket',
        key: keyOf(keyPrefix, tag, category, 'rate'),
        capacity,
        intervalMs,
        cost: 1,
      };
      const policy: PolicySpec = {
        name: category,
        limit: capacity,
        windowSeconds: Math.ceil(capacity / rule.ratePerSecond - 1e-9), // 30 ÷ 30/s is 1 s, not 1.0000000000000002
      };
      const plan: { -readonly [K in keyof CategoryPlan]: CategoryPlan[K] } = {
        rate: { checks: [bucket], headers: planHeaders([policy]) },
      };
      if (category === 'messages' && rules.messages.dailyPushQuota !== null) {
        const limit = rules.messages.dailyPushQuota;
        const day: WindowCheck = {
          type: 'window',
          key: keyOf(keyPrefix, tag, category, 'daily'),
          limit,
          edgesMs: [], // the days around now, set per request by `withDailyCost`
          cost: 1,
        };
        plan.send = {
          checks: [bucket, day],
          headers: planHeaders([policy, { name: 'messages-daily', limit, windowSeconds: DAY_MS / 1000 }]),
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
        plan.download = { checks: [bucket, downloads], headers: plan.rate.headers };
      }
      compiled[category] = Object.freeze(plan);
    }
    return { edition, tag, rules, categories: compiled };
  }
}

/**
 * Rejects when the store has not answered within `ms`. The verdict waits one turn of the event loop
 * past the timer, so a reply that arrived while this process was busy is not mistaken for a timeout.
 */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (!settled) reject(new StoreError('ERR_STORE_TIMEOUT', `the store did not answer within ${ms} ms`));
      });
    }, ms);
    promise.then(
      (value) => {
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
