import { randomUUID } from 'node:crypto';
import type { NameCase } from '../limits/app-key.js';
import type { RouteMatch } from '../limits/classify.js';
import type { MembershipKind } from '../limits/routes.js';
import type { EditionRules } from '../limits/table.js';
import { all, isPending, type MaybePromise, onRejection } from '../maybe-async.js';
import type { Failover, Health } from '../store/failover-store.js';
import { appTag } from '../store/keys.js';
import type { MembershipLedger, Reservation } from '../store/ledger.js';
import { createdIdOf, groupOf, newMembersOf, usersOf } from './extract.js';

interface Pending {
  readonly appKey: string;
  readonly users: readonly string[];
  /** Where the change is recorded: the shared ledger, or this process's while the store is down. */
  readonly ledger: MembershipLedger;
}

/** A join reserved before the handler ran, settled by its answer. */
export interface PendingJoin extends Pending {
  readonly effect: 'join';
  readonly kind: MembershipKind;
  /** The group, or for a group being created the reservation token that stands for it. */
  readonly group: string;
  /** The users the reservation holds: the ones its answer confirms or releases. */
  readonly added: readonly string[];
  /** The group is being created: its real ID comes from the answer. */
  readonly creates: boolean;
  /** A batch add: its answer may name the users it actually added (`data.newmembers`). */
  readonly batch: boolean;
}

/** A leave or a dissolve, recorded once the IM server has carried it out. */
export interface PendingChange extends Pending {
  readonly effect: 'leave' | 'dissolve';
  readonly kind: MembershipKind;
  readonly group: string;
}

/** A deleted user, out of every group and chat room once the IM server has deleted them. */
export interface PendingForget extends Pending {
  readonly effect: 'forget';
}

/** A membership change in flight: reserved (joins) before the handler, concluded by its answer. */
export type PendingMembership = PendingJoin | PendingChange | PendingForget;

/** Whether concluding `pending` reads the answer's body: a created group's ID, a batch add's new members. */
export function readsAnswer(pending: PendingMembership): boolean {
  return pending.effect === 'join' && (pending.creates || pending.batch);
}

/** What a membership route may go on with: a change to conclude, a refusal, or no check at all. */
export type MembershipStep =
  | { readonly pending?: PendingMembership }
  | { readonly refused: string; readonly kind: MembershipKind }
  | { readonly unchecked: true };

const allKinds: readonly MembershipKind[] = ['groups', 'chatrooms'];

/**
 * Holds each user to `maxJoinedPerUser` groups and chat rooms through a ledger: joins reserve
 * before the handler runs and are settled by its answer, or lapse after `holdMs` if it never comes;
 * leaves, dissolves and deleted users are recorded once they succeed. A reservation goes through the
 * store's failover: while the store is down a join cannot be checked (`unchecked`), and a cap kept by
 * one process alone would let a client past it, so the limiter refuses it (503) unless the policy is
 * `allow`. A conclusion is always attempted, bounded by the store's timeout: a join that succeeded
 * must be recorded, or its user would count one group short.
 */
export class MembershipGate {
  constructor(
    private readonly ledger: MembershipLedger,
    private readonly failover: Failover,
    private readonly nameCase: NameCase,
    private readonly holdMs: number,
    /** The health of a ledger apart from the store (the IM server's `count()`, a ledger of its own). */
    private readonly ownHealth?: Health,
  ) {}

  /** `capped` false holds the users whatever their count: a join report mode lets past the cap is still recorded. */
  reserve(match: RouteMatch, body: unknown, rules: EditionRules, capped = true): MaybePromise<MembershipStep> {
    const membership = match.route.membership as NonNullable<RouteMatch['route']['membership']>;
    const { appKey } = match;
    const users = usersOf(match, body, this.nameCase);
    if (membership.effect === 'forget') return { pending: { effect: 'forget', appKey, users, ledger: this.ledger } };
    const { effect, kind } = membership;
    const group = groupOf(match);
    if (effect !== 'join') {
      if (group === undefined) return {};
      return { pending: { effect, appKey, kind, group, users, ledger: this.ledger } };
    }
    const creates = group === undefined;
    const batch = membership.who === 'usernames';
    const target = group ?? `pending-${randomUUID()}`;
    const max = capped ? rules[kind].maxJoinedPerUser : Number.MAX_SAFE_INTEGER;
    const { holdMs } = this;
    const step = (ledger: MembershipLedger, reservation: Reservation): MembershipStep =>
      reservation.refused !== undefined
        ? { refused: reservation.refused, kind }
        : {
            pending: { effect, appKey, kind, group: target, users, added: reservation.added, creates, batch, ledger },
          };
    const { ledger } = this;
    // set once the failover answers without this reservation (timed out): a reply that comes later
    // gives back what it holds, so no place stays held past the timeout
    let abandoned = false;
    return this.failover.run(
      () => {
        const reservation = ledger.reserve(appKey, kind, target, users, max, holdMs);
        if (!isPending(reservation)) return step(ledger, reservation);
        return reservation.then((reserved) => {
          if (abandoned && reserved.refused === undefined) releaseLate(ledger, appKey, kind, target, reserved.added);
          return step(ledger, reserved);
        });
      },
      (): MembershipStep => {
        abandoned = true;
        return { unchecked: true };
      },
      // the built-in ledger keeps an app's memberships under its hash tag, in the store
      this.ownHealth ?? this.failover.healthOf(appTag(appKey)),
    );
  }

  /**
   * Records what the IM server did, once it has answered: a join's holds are confirmed (2xx) or
   * released (anything else), a created group takes its real ID, a leave, a dissolve or a deleted
   * user is recorded. Never rejects; never waits longer than the store's timeout.
   */
  conclude(pending: PendingMembership, succeeded: boolean, responseBody: string): MaybePromise<void> {
    const { ledger, appKey, users } = pending;
    const record = (): MaybePromise<void> => {
      if (pending.effect === 'join') return this.settle(pending, succeeded, responseBody);
      if (!succeeded) return;
      if (pending.effect === 'forget') {
        return all(allKinds.flatMap((kind) => users.map((user) => ledger.forget(appKey, kind, user))));
      }
      const { kind, group } = pending;
      return pending.effect === 'leave'
        ? ledger.leave(appKey, kind, group, users)
        : ledger.dissolve(appKey, kind, group);
    };
    // a failure is told as every store call's is (the metrics count it); the hold lapses on its own
    const failed = (error: unknown): void => {
      try {
        this.failover.options.onFailure?.(error);
      } catch {
        // a hook that throws must not fail the answer
      }
    };
    let done: MaybePromise<void>;
    try {
      done = record();
    } catch (error) {
      return failed(error);
    }
    if (!isPending(done)) return;
    return this.failover.deadlines.race(done, ignore, failed);
  }

  /**
   * A join's answer settles its holds. A created group whose ID cannot be read keeps its holds
   * under the token, confirmed: counted rather than lost. A batch add whose answer names the users
   * it added confirms those and releases the rest; one that names none confirms them all.
   */
  private settle(pending: PendingJoin, succeeded: boolean, responseBody: string): MaybePromise<void> {
    const { ledger, appKey, kind, group, added } = pending;
    if (added.length === 0) return;
    if (!succeeded) return ledger.release(appKey, kind, group, added);
    if (pending.creates) {
      const id = createdIdOf(responseBody);
      return id === undefined
        ? ledger.confirm(appKey, kind, group, added)
        : ledger.rename(appKey, kind, group, id, added);
    }
    const named = pending.batch ? newMembersOf(responseBody, this.nameCase) : undefined;
    if (named === undefined) return ledger.confirm(appKey, kind, group, added);
    const accepted = new Set(named);
    const confirmed = added.filter((user) => accepted.has(user));
    const dropped = added.filter((user) => !accepted.has(user));
    return all([ledger.confirm(appKey, kind, group, confirmed), ledger.release(appKey, kind, group, dropped)]);
  }
}

/** Gives back a reservation nobody waits for any more; should that fail too, the hold lapses after `holdMs`. */
function releaseLate(
  ledger: MembershipLedger,
  appKey: string,
  kind: MembershipKind,
  group: string,
  added: readonly string[],
): void {
  if (added.length === 0) return;
  try {
    onRejection(ledger.release(appKey, kind, group, added), ignore);
  } catch {
    // lapses on its own
  }
}

const ignore = (): void => {};
