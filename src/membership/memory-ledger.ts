import { monotonicNow } from '../clock.js';
import type { MembershipKind } from '../limits/routes.js';
import { localSpaceKey } from '../store/keys.js';
import type { MembershipLedger, Reservation } from '../store/ledger.js';

export interface MemoryLedgerOptions {
  /** The time in ms that holds lapse by; inject a fake clock in tests. Default monotonic: a wall-clock step lapses no hold. */
  readonly clock?: (() => number) | undefined;
}

/**
 * A join in flight: when its hold lapses, how many joins hold it, and whether the user was a member
 * when it was placed and has not left since (then a hold that ends unconfirmed leaves them one).
 */
interface Hold {
  deadlineMs: number;
  count: number;
  member: boolean;
}

/** One app's groups or chat rooms. Every map and set is deleted once empty. */
class Space {
  /** user → groups joined, held or confirmed */
  readonly joined = new Map<string, Set<string>>();
  /** group → members, held or confirmed */
  readonly members = new Map<string, Set<string>>();
  /** user → group → hold, for the joins still in flight */
  readonly holds = new Map<string, Map<string, Hold>>();

  get empty(): boolean {
    return this.joined.size === 0 && this.members.size === 0 && this.holds.size === 0;
  }

  join(user: string, group: string): void {
    setOf(this.joined, user).add(group);
    setOf(this.members, group).add(user);
  }

  /** Takes the user out of the group, with any hold on it. */
  unjoin(user: string, group: string): void {
    deleteFrom(this.joined, user, group);
    deleteFrom(this.members, group, user);
    deleteFrom(this.holds, user, group);
  }

  hold(user: string, group: string): Hold | undefined {
    return this.holds.get(user)?.get(group);
  }

  /** A hold that ends without making a membership: a member before it stays one, anyone else leaves. */
  unhold(user: string, group: string): void {
    if (this.hold(user, group)?.member) deleteFrom(this.holds, user, group);
    else this.unjoin(user, group);
  }

  /** Drops the user's holds that lapsed: they no longer count. */
  purge(user: string, nowMs: number): void {
    for (const [group, hold] of this.holds.get(user) ?? []) if (hold.deadlineMs <= nowMs) this.unhold(user, group);
  }
}

/** How often, at most, lapsed holds are swept out (on a reservation, never by a timer). */
const SWEEP_INTERVAL_MS = 10_000;

/**
 * The membership ledger in process memory, exact within one process. It is state, not a rate: it
 * holds one entry per membership, for as long as the membership lasts, and nothing once it is gone.
 */
export class MemoryLedger implements MembershipLedger {
  /** One app's groups or chat rooms (`localSpaceKey`) → its memberships */
  private readonly spaces = new Map<string, Space>();
  private readonly clock: () => number;
  /** When holds that lapsed are next swept out of every space: a user who never joins again leaves none. */
  private sweepAtMs: number;

  constructor(options: MemoryLedgerOptions = {}) {
    this.clock = options.clock ?? monotonicNow;
    this.sweepAtMs = this.clock() + SWEEP_INTERVAL_MS;
  }

  /** How many apps × kinds hold any state. */
  get size(): number {
    return this.spaces.size;
  }

  reserve(
    appKey: string,
    kind: MembershipKind,
    group: string,
    users: readonly string[],
    max: number,
    holdMs: number,
  ): Reservation {
    const nowMs = this.clock();
    if (nowMs >= this.sweepAtMs) this.sweep(nowMs);
    return this.in(appKey, kind, (space) => {
      for (const user of users) space.purge(user, nowMs);
      const refused = users.find((user) => {
        const groups = space.joined.get(user);
        return groups !== undefined && !groups.has(group) && groups.size >= max;
      });
      if (refused !== undefined) return { refused };
      const deadlineMs = nowMs + holdMs;
      const added = users.filter((user) => {
        const held = space.hold(user, group);
        if (held !== undefined) {
          held.count++;
          held.deadlineMs = Math.max(held.deadlineMs, deadlineMs);
          return true;
        }
        // a member already is held too, so that a leave answered meanwhile cannot free the slot
        const member = space.joined.get(user)?.has(group) === true;
        space.join(user, group);
        mapOf(space.holds, user).set(group, { deadlineMs, count: 1, member });
        return true;
      });
      return { added };
    });
  }

  confirm(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): void {
    this.in(appKey, kind, (space) => {
      const nowMs = this.clock();
      for (const user of users) {
        const held = space.hold(user, group);
        if (held === undefined) continue; // lapsed and purged, dissolved: nothing to confirm
        if (held.deadlineMs <= nowMs) space.unhold(user, group);
        else deleteFrom(space.holds, user, group);
      }
    });
  }

  release(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): void {
    this.in(appKey, kind, (space) => {
      const nowMs = this.clock();
      for (const user of users) {
        const held = space.hold(user, group);
        if (held === undefined) continue; // confirmed by another join, or gone already
        if (held.deadlineMs <= nowMs || --held.count === 0) space.unhold(user, group);
      }
    });
  }

  /**
   * Takes users out of a group; one a join in flight holds stays counted until that join's answer
   * (the IM server may apply the join after the leave), but is no longer a member before it.
   */
  leave(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): void {
    this.in(appKey, kind, (space) => {
      for (const user of users) {
        const held = space.hold(user, group);
        if (held === undefined) space.unjoin(user, group);
        else held.member = false;
      }
    });
  }

  rename(appKey: string, kind: MembershipKind, token: string, group: string, users: readonly string[]): void {
    this.in(appKey, kind, (space) => {
      const nowMs = this.clock();
      for (const user of users) {
        const held = space.hold(user, token);
        if (held === undefined) continue;
        space.unjoin(user, token);
        if (held.deadlineMs > nowMs) space.join(user, group);
      }
    });
  }

  dissolve(appKey: string, kind: MembershipKind, group: string): void {
    this.in(appKey, kind, (space) => {
      for (const user of space.members.get(group) ?? []) space.unjoin(user, group);
    });
  }

  forget(appKey: string, kind: MembershipKind, user: string): void {
    this.in(appKey, kind, (space) => {
      for (const group of space.joined.get(user) ?? []) space.unjoin(user, group);
    });
  }

  /** Drops every lapsed hold, and the spaces left empty. */
  private sweep(nowMs: number): void {
    for (const [key, space] of this.spaces) {
      for (const user of [...space.holds.keys()]) space.purge(user, nowMs);
      if (space.empty) this.spaces.delete(key);
    }
    this.sweepAtMs = nowMs + SWEEP_INTERVAL_MS;
  }

  /** Runs `change` on one app's space, created if need be and deleted again if left empty. */
  private in<T>(appKey: string, kind: MembershipKind, change: (space: Space) => T): T {
    const key = localSpaceKey(appKey, kind);
    const space = this.spaces.get(key) ?? new Space();
    const result = change(space);
    if (space.empty) this.spaces.delete(key);
    else this.spaces.set(key, space);
    return result;
  }
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}

function mapOf<K, K2, V>(map: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let inner = map.get(key);
  if (inner === undefined) {
    inner = new Map();
    map.set(key, inner);
  }
  return inner;
}

/** Deletes `value` from the collection under `key`, and the collection once it is empty. */
function deleteFrom<K, V>(map: Map<K, Set<V> | Map<V, unknown>>, key: K, value: V): void {
  const inner = map.get(key);
  if (inner?.delete(value) && inner.size === 0) map.delete(key);
}
