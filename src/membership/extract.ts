import { foldName, type NameCase } from '../limits/app-key.js';
import { isObject, own } from '../limits/body-fields.js';
import type { RouteMatch } from '../limits/classify.js';

/**
 * The users a membership route names, as the ledger keys them (case folded unless names are
 * case-sensitive), without duplicates; empty for a dissolve. Reads a body `checkPayload` passed.
 */
export function usersOf(match: RouteMatch, body: unknown, nameCase: NameCase): string[] {
  const who = match.route.membership?.who;
  const field = (name: string): unknown => (isObject(body) ? own(body, name) : undefined);
  const list = (name: string): unknown[] => {
    const value = field(name);
    return Array.isArray(value) ? value : [];
  };
  let users: unknown[];
  switch (who) {
    case 'path':
      users = [match.params.username];
      break;
    case 'path-list':
      users = (match.params.username ?? '').split(',');
      break;
    case 'usernames':
      users = list('usernames');
      break;
    case 'owner+members':
      users = [field('owner'), ...list('members')];
      break;
    default:
      users = [];
  }
  const named = users.filter((user): user is string => typeof user === 'string' && user.length > 0);
  return [...new Set(named.map((user) => foldName(user, nameCase)))];
}

/** The group or chat room a route acts on; `undefined` when it creates one. */
export function groupOf(match: RouteMatch): string | undefined {
  return match.params.group_id ?? match.params.chatroom_id;
}

/** The ID of a created group or chat room in the IM server's answer (`data.groupid`, `data.id`). */
export function createdIdOf(responseBody: string): string | undefined {
  try {
    const data = (JSON.parse(responseBody) as { data?: Record<string, unknown> } | null)?.data;
    const id = data?.groupid ?? data?.id ?? data?.chatroom_id;
    return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The users a batch add's answer says it added (`data.newmembers`), keyed as `usersOf` keys them;
 * `undefined` when the answer names none.
 */
export function newMembersOf(responseBody: string, nameCase: NameCase): string[] | undefined {
  try {
    const named = (JSON.parse(responseBody) as { data?: Record<string, unknown> } | null)?.data?.newmembers;
    if (!Array.isArray(named)) return undefined;
    return named.filter((user): user is string => typeof user === 'string').map((user) => foldName(user, nameCase));
  } catch {
    return undefined;
  }
}
