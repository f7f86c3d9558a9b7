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
 * Membership as the limiter uses it: reserve before the handler runs, then settle once the response
 * is known. `space` names one app's groups or chat rooms (`keys.membershipSpace`); `group` is a
 * group or chat-room ID, or a reservation token for a group being created.
 */
export interface MembershipLedger {
  reserve(space: string, group: string, users: readonly string[], max: number): MaybePromise<Reservation>;
  /** Undoes a join (a reservation the handler did not confirm) or records a leave. */
  remove(space: string, group: string, users: readonly string[]): MaybePromise<void>;
  /** A created group's reservation token becomes its real ID. */
  rename(space: string, token: string, group: string, users: readonly string[]): MaybePromise<void>;
  dissolve(space: string, group: string): MaybePromise<void>;
}

/** A `MembershipSource` as a ledger: counts before a join, keeps nothing itself. */
export function ledgerOfSource(source: MembershipSource): MembershipLedger {
  const nothing = (): void => {};
  return {
    async reserve(space, _group, users, max) {
      const appKey = appKeyOfSpace(space);
      const kind = space.slice(space.lastIndexOf(':') + 1) as MembershipKind;
      const counts = await Promise.all(users.map((user) => source.count(appKey, kind, user)));
      const over = users.find((_, i) => (counts[i] as number) + 1 > max);
      return over === undefined ? { added: [] } : { refused: over };
    },
    remove: nothing,
    rename: nothing,
    dissolve: nothing,
  };
}

/** `imrl:{acme#chat}:groups` → `acme#chat`: the hash tag is the app key. */
function appKeyOfSpace(space: string): string {
  return space.slice(space.indexOf('{') + 1, space.indexOf('}'));
}
