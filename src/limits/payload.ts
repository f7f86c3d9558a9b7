import { isLongerThan } from './app-key.js';
import { isIdList, isObject, own } from './body-fields.js';
import type { RouteMatch } from './classify.js';
import { illegal, type PayloadViolation } from './payload-violation.js';
import { checkSend } from './send.js';
import type { EditionRules } from './table.js';

export type { PayloadViolation };

/** Path parameters that name a user on the users and contacts routes. */
const userIdParams = ['username', 'friend'] as const;

/** Whether the checks of this route need the request body. */
export function needsBody(match: RouteMatch): boolean {
  const { route } = match;
  if (route.sends !== undefined) return true;
  const who = route.membership?.who;
  if (who === 'usernames' || who === 'owner+members') return true;
  return (
    (match.category === 'users' || match.category === 'contacts') && route.method !== 'GET' && route.method !== 'DELETE'
  );
}

/** An org or app name longer than `maxChars`: refused before it names any state. */
export function checkAppNames(match: Pick<RouteMatch, 'org' | 'app'>, maxChars: number): PayloadViolation | undefined {
  if (isLongerThan(match.org, maxChars)) return illegal(`org_name is longer than ${maxChars} characters`);
  if (isLongerThan(match.app, maxChars)) return illegal(`app_name is longer than ${maxChars} characters`);
  return undefined;
}

/**
 * The limits a single request can break, checked before any store work: user-ID lengths, the
 * length of every list the limiter reads (bulk registration, `usernames`, `members`, recipients),
 * and a send's size. Reads only the body's own fields, and never recurses into it.
 */
export function checkPayload(match: RouteMatch, body: unknown, rules: EditionRules): PayloadViolation | undefined {
  const { category, route } = match;
  if (category === 'users' || category === 'contacts') {
    const { userIdMaxChars, idsPerRequestMax } = rules[category];
    for (const name of userIdParams) {
      const id = match.params[name];
      if (id !== undefined && isLongerThan(id, userIdMaxChars)) return userIdTooLong(id, userIdMaxChars);
    }
    if (route.method === 'GET' || route.method === 'DELETE') return undefined;
    if (category === 'users' && route.path === 'users' && Array.isArray(body)) {
      const { bulkRegistrationMax } = rules.users;
      if (body.length > bulkRegistrationMax) {
        return illegal(`bulk registration accepts at most ${bulkRegistrationMax} users, got ${body.length}`);
      }
      for (const item of body) {
        const violation = isObject(item) ? checkUserIds(item, userIdMaxChars, idsPerRequestMax) : undefined;
        if (violation !== undefined) return violation;
      }
      return undefined;
    }
    return isObject(body) ? checkUserIds(body, userIdMaxChars, idsPerRequestMax) : undefined;
  }
  if (route.sends !== undefined) return checkSend(route.sends, body, rules.messages);
  if (route.membership !== undefined && (category === 'groups' || category === 'chatrooms')) {
    return checkMembers(match, body, rules.users.userIdMaxChars, rules[category].idsPerRequestMax);
  }
  return undefined;
}

/** A body's `username` and `usernames[]`. */
function checkUserIds(
  body: Readonly<Record<string, unknown>>,
  maxChars: number,
  maxIds: number,
): PayloadViolation | undefined {
  const username = own(body, 'username');
  if (typeof username === 'string' && isLongerThan(username, maxChars)) return userIdTooLong(username, maxChars);
  return checkIdList('usernames', own(body, 'usernames'), maxChars, maxIds);
}

/**
 * The users a membership change names, as the ledger will count them: a list of strings no longer
 * than `maxIds` (a list of another type would otherwise be joined uncounted), each a user ID.
 */
function checkMembers(
  match: RouteMatch,
  body: unknown,
  maxChars: number,
  maxIds: number,
): PayloadViolation | undefined {
  const { who } = match.route.membership as NonNullable<RouteMatch['route']['membership']>;
  if (who === 'path' || who === 'path-list') {
    const ids = who === 'path' ? [match.params.username ?? ''] : (match.params.username ?? '').split(',');
    return checkIdList('username', ids, maxChars, maxIds);
  }
  if (!isObject(body)) return who === 'owner+members' ? illegal('owner must be a user ID') : undefined;
  if (who === 'usernames') return checkIdList('usernames', own(body, 'usernames'), maxChars, maxIds);
  if (who === 'owner+members') {
    // the IM server requires the owner, who joins too: a create without one would join someone uncounted
    const owner = own(body, 'owner');
    if (typeof owner !== 'string' || owner === '') return illegal('owner must be a user ID');
    if (isLongerThan(owner, maxChars)) return userIdTooLong(owner, maxChars);
    return checkIdList('members', own(body, 'members'), maxChars, maxIds);
  }
  return undefined;
}

function checkIdList(name: string, list: unknown, maxChars: number, maxIds: number): PayloadViolation | undefined {
  if (list === undefined) return undefined;
  if (!isIdList(list)) return illegal(`${name} must be a list of user IDs`);
  if (list.length > maxIds) return illegal(`${name} accepts at most ${maxIds} user IDs, got ${list.length}`);
  for (const id of list) if (isLongerThan(id, maxChars)) return userIdTooLong(id, maxChars);
  return undefined;
}

function userIdTooLong(id: string, maxChars: number): PayloadViolation {
  return illegal(`username ${id} is longer than ${maxChars} characters`);
}
