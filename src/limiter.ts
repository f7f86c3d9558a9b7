import type { Request } from 'express';
import type { Config, Edition } from './config.js';
import { type AppSettings, EditionDirectory } from './edition-directory.js';
import { StoreError } from './errors.js';
import { dayEdgesMs } from './limits/calendar.js';
import type { RouteMatch } from './limits/classify.js';
import { effectiveRules } from './limits/editions.js';
import { checkAppNames, checkPayload, type PayloadRefusal } from './limits/payload.js';
import { pushesOf } from './limits/send.js';
import { type Category, categories, type EditionRules } from './limits/table.js';
import { MembershipGate, type PendingMembership } from './membership/gate.js';
import { ledgerFor } from './membership/ledgers.js';
import { AppPlan, type CheckSet, categoryKeys, type Policy } from './plan.js';
import { Failover, FailoverStore } from './store/failover-store.js';
import { RedisStore } from './store/redis-store.js';
import { RefusalCache } from './store/refusal-cache.js';
import { slotOf } from './store/slot.js';
import type { BucketCheck, Check, Reading, WindowCheck } from './store/store.js';

/** What follows an admitted request: its body paced, its membership change concluded. */
export interface Admission {
  readonly paceBytesPerSecond?: number;
  /** Checks of negative cost to take (`Limiter.refund`) when the IM server refuses the request (4xx). */
  readonly refundOnRefusal?: readonly Check[];
  readonly membership?: PendingMembership;
}

/** What the limiter decided about one request, in numbers; the Express layer turns it into an answer. */
export type Outcome =
  | {
      readonly kind: 'decided';
      readonly allowed: boolean;
      /** The edition the app was held to. */
      readonly edition: Edition;
      /** Reported in headers: the policies of the first checks. */
      readonly policies: readonly Policy[];
      readonly readings: readonly Reading[];
      readonly checks: readonly Check[];
      /** Time in the store call, when someone observes decisions (`onDecision`, `metrics`); else 0. */
      readonly storeMs: number;
      readonly admission?: Admission;
    }
  | { readonly kind: 'payload'; readonly refusal: PayloadRefusal }
  | { readonly kind: 'membership'; readonly user: string; readonly membership: 'groups' | 'chatrooms' }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'unlimited'; readonly admission?: Admission };

const unavailable: Outcome = Object.freeze({ kind: 'unavailable' });
const unlimited: Outcome = Object.freeze({ kind: 'unlimited' });

type Decided = Extract<Outcome, { kind: 'decided' }>;

/** One app's state as `inspect` reads it, nothing taken. */
export interface AppState {
  readonly edition: Edition;
  /** Each category's bucket: its capacity, the requests it admits now, and how long until it is full again. */
  readonly categories: { readonly [C in Category]: { limit: number; remaining: number; msUntilFull: number } };
  /** Today's pushes, when the edition has a daily quota. */
  readonly daily?: { used: number; remaining: number; resetMs: number };
}

/**
 * Decides: a classified request and its body in, an `Outcome` out. Rules come from the app's
 * edition and overrides, compiled once per app into checks; every store call goes through the
 * failover, which owns timeouts and the store-down policy.
 */
export class Limiter {
  readonly editions: EditionDirectory;
  readonly failover: Failover;
  private readonly store: FailoverStore;
  private readonly plans = new Map<string, AppPlan>();
  private readonly memberships: MembershipGate | undefined;
  /** Whether anyone reads decisions: only then is the store call timed. */
  private readonly observed: boolean;
  /** Refusals that stand for a while, answered without a store call. */
  private readonly refusals: RefusalCache | undefined;
  /** The refusals' clock: the store's when this process knows it, else a monotonic one. */
  private readonly refusalClock: () => number;

  /** `onStoreFailure` is told of every failed store call (the metrics count them). */
  constructor(
    readonly config: Config,
    onStoreFailure?: (error: unknown) => void,
  ) {
    this.observed = config.onDecision !== undefined || config.metrics !== undefined;
    const { storeTimeoutMs: timeoutMs, logger, onStoreError: policy, store } = config;
    // on a Redis Cluster each slot fails on its own: one slow or moving master degrades only its keys
    const perSlot = store instanceof RedisStore && store.client.isCluster === true ? { slotOf } : {};
    this.failover = new Failover(
      onStoreFailure === undefined
        ? { timeoutMs, logger, policy, ...perSlot }
        : { timeoutMs, logger, policy, onFailure: onStoreFailure, ...perSlot },
    );
    this.store = new FailoverStore(config.store, this.failover, config.fallbackProcesses);
    this.editions = new EditionDirectory(config, this.store);
    this.refusalClock = config.store.clock ?? (() => performance.now());
    if (config.refusalCache !== false) this.refusals = new RefusalCache(config.refusalCache, this.refusalClock);
    if (config.membership !== false) {
      const ledger = ledgerFor(config.membership, config.store, config.keyPrefix);
      this.memberships = new MembershipGate(ledger, this.failover, config.nameCase, config.membershipHoldMs);
    }
  }

  /** Takes checks of negative cost, giving tokens back, through the failover like every store call; never rejects. */
  refund(checks: readonly Check[]): void {
    void this.store.take(checks); // the failover settles every call; a refund's readings tell nothing
  }

  /** Records a membership change once the IM server has answered; never rejects. */
  conclude(pending: PendingMembership, succeeded: boolean, responseBody: string): void | Promise<void> {
    return this.memberships?.conclude(pending, succeeded, responseBody);
  }

  /** The effective rules of an app under its current edition and overrides (nobody is asked for this). */
  rules(appKey: string): EditionRules {
    return effectiveRules(this.config.table, this.editions.known(appKey), this.editions.knownOverrides(appKey));
  }

  /** The app's edition and buckets as they stand, nothing taken (a check of cost 0 takes nothing, on every store). */
  async inspect(appKey: string): Promise<AppState> {
    const settings = await this.editions.settingsOf(appKey);
    const plan = this.planFor(appKey, settings);
    const buckets = categories.map((category) => ({
      ...(plan.category(category).rate.checks[0] as BucketCheck),
      cost: 0,
    }));
    const send = plan.category('messages').send;
    const day = send === undefined ? undefined : (this.withDailyCost(send.checks, 0)[1] as WindowCheck);
    const readings = await this.store.take(day === undefined ? buckets : [...buckets, day]);
    if (readings === undefined) throw new StoreError('ERR_STORE', 'im-rate-limit: the store is unavailable');
    const state = Object.fromEntries(
      buckets.map((bucket, i) => {
        const { remaining, resetMs } = readings[i] as Reading;
        return [categories[i], { limit: bucket.capacity, remaining, msUntilFull: resetMs }];
      }),
    ) as AppState['categories'];
    if (day === undefined) return { edition: settings.edition, categories: state };
    const { remaining, resetMs } = readings[buckets.length] as Reading;
    return { edition: settings.edition, categories: state, daily: { used: day.limit - remaining, remaining, resetMs } };
  }

  /**
   * Fills the app's buckets again, of one category or all, with the daily window for messages;
   * memberships are not touched. Rejects with a `StoreError` when the store failed or cannot reset.
   */
  async reset(appKey: string, category?: Category): Promise<void> {
    this.forgetRefusals();
    const keys = (category === undefined ? categories : [category]).flatMap((c) => {
      const { rate, daily } = categoryKeys(appKey, c, this.config.keyPrefix);
      return c === 'messages' ? [rate, daily] : [rate];
    });
    const reset = await this.store.reset(keys);
    this.forgetRefusals(); // and those answered while it was being reset
    if (!reset) {
      throw new StoreError(
        'ERR_STORE',
        'im-rate-limit: the store did not reset the buckets (it failed, or has no reset())',
      );
    }
  }

  /** Moves an app to an edition at run time; resolves to whether the store took it. */
  setEdition(appKey: string, edition: unknown, path: string): Promise<boolean> {
    return this.changingFigures(this.editions.setEdition(appKey, edition, path));
  }

  /** Replaces an app's overrides at run time (`undefined`: back to the configured ones); as `setEdition`. */
  setOverrides(appKey: string, overrides: unknown, path: string): Promise<boolean> {
    return this.changingFigures(this.editions.setOverrides(appKey, overrides, path));
  }

  /**
   * Refusals remembered in this process stand for the figures they were answered under: forgotten
   * when they change, and again once the store took the change (a refusal answered meanwhile).
   */
  private changingFigures(took: boolean | Promise<boolean>): Promise<boolean> {
    this.forgetRefusals();
    return Promise.resolve(took).then((stored) => {
      this.forgetRefusals();
      return stored;
    });
  }

  private forgetRefusals(): void {
    this.refusals?.clear();
  }

  /** Decides a classified request; `body` is the parsed body when the route's checks read it. */
  decide(match: RouteMatch, body: unknown, req: Request): Outcome | Promise<Outcome> {
    const refusal = checkAppNames(match, this.config.appNameMaxChars);
    if (refusal !== undefined) return { kind: 'payload', refusal };
    const settings = this.editions.settingsOf(match.appKey, req);
    if (settings instanceof Promise)
      return settings.then((resolved) => this.limit(match, this.planFor(match.appKey, resolved), body));
    return this.limit(match, this.planFor(match.appKey, settings), body);
  }

  private limit(match: RouteMatch, plan: AppPlan, body: unknown): Outcome | Promise<Outcome> {
    const refusal = checkPayload(match, body, plan.rules);
    if (refusal !== undefined) return { kind: 'payload', refusal };
    const category = plan.category(match.category);
    const { sends, downloadsFile } = match.route;
    let set = category.rate;
    let checks = set.checks;
    if (sends !== undefined && category.send !== undefined) {
      set = category.send;
      checks = this.withDailyCost(set.checks, this.config.dailyQuota.countBy === 'call' ? 1 : pushesOf(sends, body));
    } else if (downloadsFile && category.download !== undefined) {
      set = category.download;
      checks = set.checks;
    }
    // a token given back later (a download the IM server refused) would void a remembered refusal
    const remembers = this.refusals !== undefined && !('refundOnRefusal' in set);
    if (remembers) {
      const standing = this.refusals?.refused(checks);
      if (standing !== undefined) {
        const { edition } = plan;
        return {
          kind: 'decided',
          allowed: false,
          edition,
          policies: set.policies,
          readings: standing,
          checks,
          storeMs: 0,
        };
      }
    }
    const startedAt = this.observed ? performance.now() : 0;
    const sentAt = remembers ? this.refusalClock() : 0;
    const readings = this.store.take(checks);
    if (readings instanceof Promise) {
      return readings.then((read) => this.judge(match, plan, body, set, checks, read, startedAt, sentAt));
    }
    return this.judge(match, plan, body, set, checks, readings, startedAt, sentAt);
  }

  /** The store's readings as an outcome; admitted requests go on to `admit`. */
  private judge(
    match: RouteMatch,
    plan: AppPlan,
    body: unknown,
    set: CheckSet,
    checks: readonly Check[],
    readings: readonly Reading[] | undefined,
    startedAt: number,
    sentAt: number,
  ): Outcome | Promise<Outcome> {
    if (readings === undefined) {
      return this.config.onStoreError === 'deny' ? unavailable : this.admit(match, plan, body, undefined);
    }
    let allowed = true;
    for (let i = 0; i < readings.length; i++) if (!(readings[i] as Reading).allowed) allowed = false;
    const storeMs = startedAt === 0 ? 0 : performance.now() - startedAt;
    const { edition } = plan;
    const decided: Decided = { kind: 'decided', allowed, edition, policies: set.policies, readings, checks, storeMs };
    if (allowed) return this.admit(match, plan, body, decided);
    // a refusal of the per-process fallback buckets proves nothing of the shared store's
    if (!('refundOnRefusal' in set) && !this.failover.degraded) this.refusals?.remember(checks, readings, sentAt);
    return decided;
  }

  /** What an admitted request still needs: download pacing, a membership reservation. */
  private admit(
    match: RouteMatch,
    plan: AppPlan,
    body: unknown,
    decided: Decided | undefined,
  ): Outcome | Promise<Outcome> {
    const admitted = (admission: Admission): Outcome =>
      decided === undefined ? { kind: 'unlimited', admission } : { ...decided, admission };
    if (match.route.downloadsFile) {
      const paceBytesPerSecond = plan.rules.files.downloadBytesPerSecond;
      const refundOnRefusal = plan.category(match.category).download?.refundOnRefusal;
      // only what the store took can be given back: nothing was under `allow`
      return admitted(
        decided === undefined || refundOnRefusal === undefined
          ? { paceBytesPerSecond }
          : { paceBytesPerSecond, refundOnRefusal },
      );
    }
    const { memberships } = this;
    if (match.route.membership === undefined || memberships === undefined) return decided ?? unlimited;
    const step = memberships.reserve(match, body, plan.rules);
    const outcome = (taken: Awaited<typeof step>): Outcome => {
      if ('refused' in taken) return { kind: 'membership', user: taken.refused, membership: taken.kind };
      // a cap cannot be checked without the shared ledger: only 'allow' lets such a join through
      if ('unchecked' in taken) return this.config.onStoreError === 'allow' ? (decided ?? unlimited) : unavailable;
      return taken.pending === undefined ? (decided ?? unlimited) : admitted({ membership: taken.pending });
    };
    return step instanceof Promise ? step.then(outcome) : outcome(step);
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

  /** The app's cached plan while its edition and overrides are the same; compiled anew when either changed. */
  private planFor(appKey: string, { edition, overrides }: AppSettings): AppPlan {
    const cached = this.plans.get(appKey);
    if (cached !== undefined && cached.edition === edition && cached.overrides === overrides) return cached;
    if (this.plans.size >= this.config.maxCachedApps) this.plans.delete(this.plans.keys().next().value as string);
    const rules = effectiveRules(this.config.table, edition, overrides);
    const plan = new AppPlan(appKey, edition, rules, this.config.keyPrefix, overrides);
    this.plans.set(appKey, plan);
    return plan;
  }
}
