import type { Request } from 'express';
import type { Config, Edition } from './config.js';
import { EditionDirectory } from './edition-directory.js';
import { dayEdgesMs } from './limits/calendar.js';
import type { RouteMatch } from './limits/classify.js';
import { effectiveRules } from './limits/editions.js';
import { checkAppNames, checkPayload, type PayloadRefusal } from './limits/payload.js';
import { pushesOf } from './limits/send.js';
import type { EditionRules } from './limits/table.js';
import { MembershipGate, type PendingMembership } from './membership/gate.js';
import { ledgerFor } from './membership/ledgers.js';
import { AppPlan, type CheckSet, type Policy } from './plan.js';
import { Failover, FailoverStore } from './store/failover-store.js';
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
      /** Reported in headers: the policies of the first checks. */
      readonly policies: readonly Policy[];
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

type Decided = Extract<Outcome, { kind: 'decided' }>;

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

  constructor(readonly config: Config) {
    this.editions = new EditionDirectory(config);
    const { storeTimeoutMs: timeoutMs, logger, onStoreError: policy } = config;
    this.failover = new Failover({ timeoutMs, logger, policy });
    this.store = new FailoverStore(config.store, this.failover, config.fallbackProcesses);
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
    const readings = this.store.take(checks);
    if (readings instanceof Promise) return readings.then((read) => this.judge(match, plan, body, set, checks, read));
    return this.judge(match, plan, body, set, checks, readings);
  }

  /** The store's readings as an outcome; admitted requests go on to `admit`. */
  private judge(
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
    const decided: Decided = { kind: 'decided', allowed, policies: set.policies, readings, checks };
    return allowed ? this.admit(match, plan, body, decided) : decided;
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
      if ('unchecked' in taken) return this.config.onStoreError === 'deny' ? unavailable : (decided ?? unlimited);
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

  private planFor(match: RouteMatch, edition: Edition): AppPlan {
    const cached = this.plans.get(match.appKey);
    if (cached !== undefined && cached.edition === edition) return cached;
    if (this.plans.size >= this.config.maxCachedApps) this.plans.delete(this.plans.keys().next().value as string);
    const plan = new AppPlan(match.appKey, edition, this.rules(match.appKey, edition), this.config.keyPrefix);
    this.plans.set(match.appKey, plan);
    return plan;
  }
}
