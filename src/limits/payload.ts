import type { RouteMatch } from './classify.js';
import type { EditionRules } from './table.js';

/** A request over a size or count limit: answered 400, before any token is taken. */
export interface PayloadRefusal {
  readonly error: 'illegal_argument' | 'message_send_error';
  readonly description: string;
}

/** Path parameters that name a user on the users and contacts routes. */
const userIdParams = ['username', 'friend'] as const;

/** Whether the checks of this route need the request body. */
export function needsBody(match: RouteMatch): boolean {
  const { route } = match;
  if (route.sendsMessage) return true;
  if (
    route.membership !== undefined &&
    (route.membership.who === 'usernames' || route.membership.who === 'owner+members')
  )
    return true;
  return (
    (match.category === 'users' || match.category === 'contacts') && route.method !== 'GET' && route.method !== 'DELETE'
  );
}

/** SPEC §1 "further limits" that a single request can break: user-ID length, bulk size, message bytes. */
export function checkPayload(match: RouteMatch, body: unknown, rules: EditionRules): PayloadRefusal | undefined {
  const { category } = match;
  if (category === 'users' || category === 'contacts') {
    const maxChars = rules[category].userIdMaxChars;
    for (const name of userIdParams) {
      const id = match.params[name];
      if (id !== undefined && isTooLong(id, maxChars)) return userIdTooLong(id, maxChars);
    }
    if (match.route.method !== 'GET' && match.route.method !== 'DELETE') {
      const id = longUserIdInBody(body, maxChars);
      if (id !== undefined) return userIdTooLong(id, maxChars);
    }
    if (category === 'users' && match.route.path === 'users' && Array.isArray(body)) {
      const { bulkRegistrationMax } = rules.users;
      if (body.length > bulkRegistrationMax) {
        return {
          error: 'illegal_argument',
          description: `bulk registration accepts at most ${bulkRegistrationMax} users, got ${body.length}`,
        };
      }
    }
  }
  if (match.route.sendsMessage && isObject(body)) {
    const { messageMaxBytes } = rules.messages;
    const bytes = messageBytes(body);
    if (bytes > messageMaxBytes) {
      return {
        error: 'message_send_error',
        description: `message is too large: ${bytes} bytes, limit ${messageMaxBytes}`,
      };
    }
  }
  return undefined;
}

/** UTF-8 bytes of the JSON of the message (`msg`, or `body` in the newer API) plus that of `ext` (SPEC §2.7). */
export function messageBytes(body: Readonly<Record<string, unknown>>): number {
  const message = body.msg ?? body.body;
  return jsonBytes(message) + jsonBytes(body.ext);
}

function jsonBytes(value: unknown): number {
  if (value === undefined) return 0;
  const json = JSON.stringify(value);
  return json === undefined ? 0 : Buffer.byteLength(json, 'utf8');
}

/** Length in characters (code points), not UTF-16 units: an emoji is one character. */
function isTooLong(id: string, maxChars: number): boolean {
  if (id.length <= maxChars) return false; // code points never outnumber UTF-16 units
  let chars = 0;
  for (const _ of id) if (++chars > maxChars) return true;
  return false;
}

/** The first user ID over the limit in `username`, `usernames[]`, or each item of a bulk array. */
function longUserIdInBody(body: unknown, maxChars: number): string | undefined {
  if (Array.isArray(body)) {
    for (const item of body) {
      const id = longUserIdInBody(item, maxChars);
      if (id !== undefined) return id;
    }
    return undefined;
  }
  if (!isObject(body)) return undefined;
  const { username, usernames } = body;
  if (typeof username === 'string' && isTooLong(username, maxChars)) return username;
  if (Array.isArray(usernames)) {
    for (const id of usernames) if (typeof id === 'string' && isTooLong(id, maxChars)) return id;
  }
  return undefined;
}

function userIdTooLong(id: string, maxChars: number): PayloadRefusal {
  return { error: 'illegal_argument', description: `username ${id} is longer than ${maxChars} characters` };
}

export function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
