import type { RouteMatch } from './classify.js';
import { isObject } from './payload.js';

/** The users a membership route names (SPEC §2.8), without duplicates; empty for a dissolve. */
export function usersOf(match: RouteMatch, body: unknown): string[] {
  const who = match.route.membership?.who;
  const fromBody = isObject(body) ? body : {};
  let users: unknown[];
  switch (who) {
    case 'path':
      users = [match.params.username];
      break;
    case 'path-list':
      users = (match.params.username ?? '').split(',');
      break;
    case 'usernames':
      users = Array.isArray(fromBody.usernames) ? fromBody.usernames : [];
      break;
    case 'owner+members':
      users = [fromBody.owner, ...(Array.isArray(fromBody.members) ? fromBody.members : [])];
      break;
    default:
      users = [];
  }
  return [...new Set(users.filter((user): user is string => typeof user === 'string' && user.length > 0))];
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
