import type { MembershipKind } from '../limits/routes.js';
import type { MaybePromise } from '../maybe-async.js';

/**
 * Where the number of groups or chat rooms a user has joined comes from: usually the IM server's own
 * database. Counting is not atomic with the join that follows: two concurrent joins at the cap may
 * both pass. The built-in ledger (the default) reserves atomically instead.
 */
export interface MembershipSource {
  count(appKey: string, kind: MembershipKind, userId: string): MaybePromise<number>;
}

/**
 * The outcome of a reservation: the first user it would take past the cap, or the users it holds:
 * every user named, members included (a member's hold keeps the slot if a leave is answered while
 * the join is in flight, and leaves them the member they were if the join is refused).
 */
export type Reservation =
  | { readonly refused: string }
  | { readonly refused?: undefined; readonly added: readonly string[] };

/**
 * Who is in which group or chat room of an app, kept by the limiter to hold users to their cap.
 * Implement it to keep memberships in a store of your own (`membership: yourLedger`); every
 * operation on one app must be atomic with the others on that app.
 *
 * A join reserves before the handler runs: each user is *held* in the group (a member already too),
 * and a hold counts towards the cap like a membership (once per group). The handler's answer settles the hold: 2xx
 * confirms it (`confirm`, or `rename` for a created group), anything else releases it (`release`).
 * A hold neither confirmed nor released within `holdMs` lapses: the ledger drops it itself, so a
 * join whose handler never answers, or whose release failed, cannot keep its place forever. A
 * confirmation that comes after the hold lapsed, or after the group was dissolved, changes nothing.
 * Two joins in flight for one user and group hold it twice, so each answer settles only its own.
 * Leaves, dissolves and deleted users are recorded once the IM server has answered 2xx; a leave of
 * a user a join in flight holds keeps the slot until that join's answer, since the IM server may
 * apply the join after the leave, and a refused join leaves a member what they were before it.
 *
 * `group` is a group or chat-room ID, or for a group being created a token unique across machines
 * (`pending-<uuid>`) that `rename` turns into its ID.
 */
export interface MembershipLedger {
  /**
   * Holds `users` in `group` for `holdMs`, or refuses them all, changing nothing, if any user not
   * yet in the group is at `max` (holds that lapsed do not count).
   */
  reserve(
    appKey: string,
    kind: MembershipKind,
    group: string,
    users: readonly string[],
    max: number,
    holdMs: number,
  ): MaybePromise<Reservation>;
  /** The IM server accepted the join: each user's hold becomes a membership, kept until a leave. */
  confirm(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): MaybePromise<void>;
  /**
   * The IM server refused the join, or its handler never ran: gives back one hold of each user; the
   * user leaves the group with the last one. A confirmed membership stays.
   */
  release(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): MaybePromise<void>;
  /** A leave the IM server carried out: the users are out of the group, held or confirmed. */
  leave(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): MaybePromise<void>;
  /** A group was created: the holds of `users` under its token are confirmed under its real ID. */
  rename(
    appKey: string,
    kind: MembershipKind,
    token: string,
    group: string,
    users: readonly string[],
  ): MaybePromise<void>;
  /**
   * Every member, held or confirmed, is out of the group once it resolves. A ledger may work in
   * bounded steps (the Redis one takes 200 members a script, so no call holds Redis up): a join that
   * slips in between steps is taken out by a later one, as the IM server dissolved the group first.
   */
  dissolve(appKey: string, kind: MembershipKind, group: string): MaybePromise<void>;
  /** A deleted user: out of every group (or chat room) of this kind. */
  forget(appKey: string, kind: MembershipKind, user: string): MaybePromise<void>;
}

/** A `MembershipSource` as a ledger: counts before a join, keeps nothing itself. */
export function ledgerOfSource(source: MembershipSource): MembershipLedger {
  const nothing = (): void => {};
  return {
    async reserve(appKey, kind, _group, users, max) {
      const counts = await Promise.all(users.map((user) => source.count(appKey, kind, user)));
      const over = users.find((_, i) => (counts[i] as number) + 1 > max);
      return over === undefined ? { added: [] } : { refused: over };
    },
    confirm: nothing,
    release: nothing,
    leave: nothing,
    rename: nothing,
    dissolve: nothing,
    forget: nothing,
  };
}
