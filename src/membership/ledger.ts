import type { MembershipKind } from '../limits/routes.js';

type MaybePromise<T> = T | Promise<T>;

/**
 * Where the number of groups or chat rooms a user has joined comes from: usually the IM server's own
 * database. Counting is not atomic with the join that follows: two concurrent joins at the cap may
 * both pass. The built-in ledger (the default) reserves atomically instead.
 */
export interface MembershipSource {
  count(appKey: string, kind: MembershipKind, userId: string): MaybePromise<number>;
}

/** The outcome of a reservation: the first user it would take past the cap, or who was newly added. */
export type Reservation =
  | { readonly refused: string }
  | { readonly refused?: undefined; readonly added: readonly string[] };

/**
 * Who is in which group or chat room of an app, kept by the limiter to hold users to their cap.
 * A join reserves before the handler runs and is released again if the IM server refuses it; leaves
 * and dissolves are recorded once the IM server has answered. `group` is a group or chat-room ID,
 * or, for a group being created, a reservation token that `rename` turns into its ID. Implement it
 * to keep memberships in a store of your own (`membership: yourLedger`).
 */
export interface MembershipLedger {
  reserve(
    appKey: string,
    kind: MembershipKind,
    group: string,
    users: readonly string[],
    max: number,
  ): MaybePromise<Reservation>;
  /** Takes users out of a group: a reservation the IM server refused, or a leave. */
  release(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): MaybePromise<void>;
  /** A created group's reservation token becomes its real ID. */
  rename(
    appKey: string,
    kind: MembershipKind,
    token: string,
    group: string,
    users: readonly string[],
  ): MaybePromise<void>;
  dissolve(appKey: string, kind: MembershipKind, group: string): MaybePromise<void>;
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
    release: nothing,
    rename: nothing,
    dissolve: nothing,
  };
}
