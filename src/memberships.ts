import type { Logger } from './config.js';
import type { NameCase } from './limits/app-key.js';
import type { RouteMatch } from './limits/classify.js';
import { createdIdOf, groupOf, usersOf } from './limits/membership.js';
import type { MembershipKind } from './limits/routes.js';
import type { EditionRules } from './limits/table.js';
import type { MembershipLedger } from './store/membership.js';

/** A membership change in flight: reserved (joins) before the handler, settled after its response. */
export interface PendingMembership {
  readonly effect: 'join' | 'leave' | 'dissolve';
  readonly space: string;
  /** The group, or for a group being created the reservation token that stands for it. */
  readonly group: string;
  readonly users: readonly string[];
  /** Users a join newly added: the ones to take out again if the handler fails. */
  readonly added: readonly string[];
  /** The group is being created: its real ID comes from the response. */
  readonly creates: boolean;
}

export type MembershipStep =
  | { readonly pending?: PendingMembership }
  | { readonly refused: string; readonly kind: MembershipKind }
  | { readonly failed: unknown };

let tokens = 0;

/**
 * Holds each user to `maxJoinedPerUser` groups and chat rooms through a ledger: joins
 * reserve before the handler runs and are confirmed or undone by the response; leaves and
 * dissolves are recorded once they succeed.
 */
export class MembershipGate {
  constructor(
    private readonly ledger: MembershipLedger,
    private readonly logger: Logger,
    private readonly nameCase: NameCase,
  ) {}

  begin(
    match: RouteMatch,
    body: unknown,
    rules: EditionRules,
    space: string,
  ): MembershipStep | Promise<MembershipStep> {
    const { effect, kind } = match.route.membership as NonNullable<RouteMatch['route']['membership']>;
    const users = usersOf(match, body, this.nameCase);
    const group = groupOf(match);
    if (effect !== 'join') {
      if (group === undefined) return {};
      return { pending: { effect, space, group, users, added: [], creates: false } };
    }
    const creates = group === undefined;
    const target = group ?? `pending-${process.pid}-${Date.now()}-${++tokens}`;
    const settle = (reservation: Awaited<ReturnType<MembershipLedger['reserve']>>): MembershipStep =>
      reservation.refused !== undefined
        ? { refused: reservation.refused, kind }
        : { pending: { effect, space, group: target, users, added: reservation.added, creates } };
    try {
      const reservation = this.ledger.reserve(space, target, users, rules[kind].maxJoinedPerUser);
      return reservation instanceof Promise
        ? reservation.then(settle, (failed: unknown) => ({ failed }))
        : settle(reservation);
    } catch (failed) {
      return { failed };
    }
  }

  /** Confirms or undoes a change once the response is known; never throws, never rejects. */
  async settle(pending: PendingMembership, succeeded: boolean, responseBody: string): Promise<void> {
    const { ledger } = this;
    const { space, group, users, added } = pending;
    try {
      if (pending.effect === 'join') {
        if (!succeeded) await ledger.remove(space, group, added);
        else if (pending.creates) {
          const id = createdIdOf(responseBody);
          if (id !== undefined) await ledger.rename(space, group, id, added);
        }
      } else if (succeeded) {
        if (pending.effect === 'leave') await ledger.remove(space, group, users);
        else await ledger.dissolve(space, group);
      }
    } catch (error) {
      this.logger.warn(
        `im-rate-limit: the membership ledger failed to record a ${pending.effect} of ${group}: ${String(error)}`,
      );
    }
  }
}
