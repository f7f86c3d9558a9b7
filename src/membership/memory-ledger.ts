import type { MembershipKind } from '../limits/routes.js';
import type { MembershipLedger, Reservation } from './ledger.js';

/**
 * The membership ledger in process memory, exact within one process. It is state, not a rate: it
 * holds one entry per membership, for as long as the membership lasts.
 */
export class MemoryLedger implements MembershipLedger {
  /** `kind:appKey` → user → groups joined */
  private readonly joined = new Map<string, Map<string, Set<string>>>();
  /** `kind:appKey` → group → members */
  private readonly members = new Map<string, Map<string, Set<string>>>();

  reserve(appKey: string, kind: MembershipKind, group: string, users: readonly string[], max: number): Reservation {
    const space = `${kind}:${appKey}`;
    const joined = nested(this.joined, space);
    const refused = users.find((user) => {
      const groups = joined.get(user);
      return groups !== undefined && !groups.has(group) && groups.size >= max;
    });
    if (refused !== undefined) return { refused };
    const added = users.filter((user) => {
      const groups = joined.get(user) ?? new Set<string>();
      joined.set(user, groups);
      return groups.size !== groups.add(group).size;
    });
    const members = nested(this.members, space);
    const groupMembers = members.get(group) ?? new Set<string>();
    members.set(group, groupMembers);
    for (const user of added) groupMembers.add(user);
    return { added };
  }

  release(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): void {
    const space = `${kind}:${appKey}`;
    const joined = nested(this.joined, space);
    const members = nested(this.members, space).get(group);
    for (const user of users) {
      deleteFrom(joined, user, group);
      members?.delete(user);
    }
    if (members?.size === 0) this.members.get(space)?.delete(group);
  }

  rename(appKey: string, kind: MembershipKind, token: string, group: string, users: readonly string[]): void {
    const space = `${kind}:${appKey}`;
    const joined = nested(this.joined, space);
    for (const user of users) {
      const groups = joined.get(user);
      if (groups?.delete(token)) groups.add(group);
    }
    const members = nested(this.members, space);
    const reserved = members.get(token);
    members.delete(token);
    if (reserved !== undefined) members.set(group, new Set([...(members.get(group) ?? []), ...reserved]));
  }

  dissolve(appKey: string, kind: MembershipKind, group: string): void {
    const space = `${kind}:${appKey}`;
    const members = nested(this.members, space);
    const joined = nested(this.joined, space);
    for (const user of members.get(group) ?? []) deleteFrom(joined, user, group);
    members.delete(group);
  }
}

function nested(map: Map<string, Map<string, Set<string>>>, space: string): Map<string, Set<string>> {
  let inner = map.get(space);
  if (inner === undefined) {
    inner = new Map();
    map.set(space, inner);
  }
  return inner;
}

function deleteFrom(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set?.delete(value) && set.size === 0) map.delete(key);
}
