import { randomUUID } from 'node:crypto';
import type { NameCase } from '../limits/app-key.js';
import type { RouteMatch } from '../limits/classify.js';
import type { MembershipKind } from '../limits/routes.js';
import type { EditionRules } from '../limits/table.js';
import type { Failover } from '../store/failover-store.js';
import { createdIdOf, groupOf, usersOf } from './extract.js';
import type { MembershipLedger, Reservation } from './ledger.js';
import { MemoryLedger } from './memory-ledger.js';

/** A membership change in flight: reserved (joins) before the handler, concluded by its answer. */
export interface PendingMembership {
  readonly effect: 'join' | 'leave' | 'dissolve';
  readonly appKey: string;
  readonly kind: MembershipKind;
  /** The group, or for a group being created the reservation token that stands for it. */
  readonly group: string;
  readonly users: readonly string[];
  /** Users a join newly added: the ones to take out again if the IM server refuses the join. */
  readonly added: readonly string[];
  /** The group is being created: its real ID comes from the answer. */
  readonly creates: boolean;
  /** Where the reservation was made: the shared ledger, or this process's while the store is down. */
  readonly ledger: MembershipLedger;
}

/** What a membership route may go on with: a change to conclude, a refusal, or no check at all. */
export type MembershipStep =
  | { readonly pending?: PendingMembership }
  | { readonly refused: string; readonly kind: MembershipKind }
  | { readonly unchecked: true };

/**
 * Holds each user to `maxJoinedPerUser` groups and chat rooms through a ledger: joins reserve
 * before the handler runs and are concluded by its answer; leaves and dissolves are recorded once
 * they succeed. Every ledger call goes through the store's failover: while the store is down a
 * join is checked against this process's own ledger (`fallback`) or not at all (`allow`, `deny`).
 */
export class MembershipGate {
  private fallback: MemoryLedger | undefined;

  constructor(
    private readonly ledger: MembershipLedger,
    private readonly failover: Failover,
    private readonly nameCase: NameCase,
  ) {}

  reserve(match: RouteMatch, body: unknown, rules: EditionRules): MembershipStep | Promise<MembershipStep> {
    const { effect, kind } = match.route.membership as NonNullable<RouteMatch['route']['membership']>;
    const { appKey } = match;
    const users = usersOf(match, body, this.nameCase);
    const group = groupOf(match);
    if (effect !== 'join') {
      if (group === undefined) return {};
      return { pending: { effect, appKey, kind, group, users, added: [], creates: false, ledger: this.ledger } };
    }
    const creates = group === undefined;
    const target = group ?? `pending-${randomUUID()}`;
    const max = rules[kind].maxJoinedPerUser;
    const step = (ledger: MembershipLedger, reservation: Reservation): MembershipStep =>
      reservation.refused !== undefined
        ? { refused: reservation.refused, kind }
        : { pending: { effect, appKey, kind, group: target, users, added: reservation.added, creates, ledger } };
    const { ledger } = this;
    return this.failover.run(
      () => {
        const reservation = ledger.reserve(appKey, kind, target, users, max);
        return reservation instanceof Promise
          ? reservation.then((reserved) => step(ledger, reserved))
          : step(ledger, reservation);
      },
      (): MembershipStep => {
        if (this.failover.options.policy !== 'fallback') return { unchecked: true };
        this.fallback ??= new MemoryLedger();
        return step(this.fallback, this.fallback.reserve(appKey, kind, target, users, max));
      },
    );
  }

  /**
   * Records what the IM server did, once it has answered: a refused join gives its reservation
   * back, a created group takes its real ID, a leave or a dissolve is recorded. Never rejects;
   * never waits longer than the store's timeout.
   */
  conclude(pending: PendingMembership, succeeded: boolean, responseBody: string): void | Promise<void> {
    const { ledger, appKey, kind, group, users, added } = pending;
    const record = (): void | Promise<void> => {
      if (pending.effect === 'join') {
        if (!succeeded) return ledger.release(appKey, kind, group, added);
        const id = pending.creates ? createdIdOf(responseBody) : undefined;
        return id === undefined ? undefined : ledger.rename(appKey, kind, group, id, added);
      }
      if (!succeeded) return;
      return pending.effect === 'leave'
        ? ledger.release(appKey, kind, group, users)
        : ledger.dissolve(appKey, kind, group);
    };
    if (ledger !== this.ledger) return record(); // this process's own ledger: no store to fail
    const done = this.failover.run(record, () => undefined);
    return done instanceof Promise ? done.then(() => undefined) : undefined;
  }
}
