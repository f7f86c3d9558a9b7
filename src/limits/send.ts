import { isIdList, isObject, own } from './body-fields.js';
import { illegal, type PayloadViolation } from './payload-violation.js';
import type { MessageSend } from './routes.js';
import type { EditionRules } from './table.js';

/** The fields each send API reads, and the other API's, which a body must not carry. */
const fields = {
  legacy: { recipients: 'target', content: 'msg', foreign: ['to', 'body'] },
  current: { recipients: 'to', content: 'body', foreign: ['target', 'msg'] },
} as const;

/**
 * Holds a send to what the IM server will deliver: the route's own recipient list and content
 * field (a body that also carries the other API's spelling is refused, so a client cannot have
 * one field counted and the other delivered), recipient lists of strings no longer than
 * `recipientsPerRequestMax`, and content + `ext` within `messageMaxBytes`.
 */
export function checkSend(
  send: MessageSend,
  body: unknown,
  rules: EditionRules['messages'],
): PayloadViolation | undefined {
  if (!isObject(body)) return undefined;
  const api = fields[send.api];
  for (const name of api.foreign) {
    if (Object.hasOwn(body, name))
      return illegal(`${name} is not read by this route: it reads ${api.recipients} and ${api.content}`);
  }
  const max = rules.recipientsPerRequestMax;
  const lists = send.audience === 'members' ? [api.recipients, 'users'] : [api.recipients];
  for (const name of lists) {
    const list = own(body, name);
    if (list === undefined) continue;
    if (!isIdList(list)) return illegal(`${name} must be a list of IDs`);
    if (list.length > max) return illegal(`${name} accepts at most ${max} recipients, got ${list.length}`);
  }
  const limit = rules.messageMaxBytes;
  const bytes = jsonBytes(own(body, api.content)) + jsonBytes(own(body, 'ext'));
  if (bytes > limit) {
    return { error: 'message_send_error', description: `message is too large: ${bytes} bytes, limit ${limit}` };
  }
  return undefined;
}

/**
 * Pushes a send counts against the daily quota: one per listed recipient, each listed user of each
 * listed group for a targeted group message, one for a broadcast or a send that names nobody.
 * Reads a body `checkSend` has passed.
 */
export function pushesOf(send: MessageSend, body: unknown): number {
  if (send.audience === 'broadcast' || !isObject(body)) return 1;
  const listed = (name: string): number => Math.max(1, (own(body, name) as unknown[] | undefined)?.length ?? 0);
  const recipients = listed(fields[send.api].recipients);
  return send.audience === 'members' ? recipients * listed('users') : recipients;
}

/**
 * A send that counts more pushes than the whole daily quota can never be admitted, whatever the
 * hour: a 400 that says so (no `Retry-After`, nothing taken), not a 429 that has the client wait.
 */
export function checkPushes(pushes: number, dailyQuota: number): PayloadViolation | undefined {
  if (pushes <= dailyQuota) return undefined;
  return illegal(`this send counts ${pushes} pushes, more than the whole daily push quota of ${dailyQuota}: split it`);
}

/** Past this a value is not a JSON body's (a cycle, say): counting stops. */
const COUNT_CAP_BYTES = 2 ** 26;

/**
 * The UTF-8 length of `JSON.stringify(value)`, counted without building the string and without
 * recursion (a body nested 100,000 deep must not overflow the stack). Counting stops past
 * `COUNT_CAP_BYTES`, far above any limit: exact for every value a JSON body can hold.
 */
export function jsonBytes(value: unknown): number {
  let bytes = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && bytes <= COUNT_CAP_BYTES) {
    let item = stack.pop();
    if (typeof item === 'object' && item !== null && typeof (item as { toJSON?: unknown }).toJSON === 'function') {
      item = (item as { toJSON(): unknown }).toJSON();
    }
    if (item === null) bytes += 4;
    else if (typeof item === 'string') bytes += stringBytes(item);
    else if (typeof item === 'number') bytes += Number.isFinite(item) ? String(item).length : 4;
    else if (typeof item === 'boolean') bytes += item ? 4 : 5;
    else if (typeof item === 'bigint') bytes += String(item).length;
    else if (Array.isArray(item)) {
      bytes += item.length === 0 ? 2 : item.length + 1; // brackets and the commas between elements
      for (const element of item) stack.push(isSkipped(element) ? null : element);
    } else if (typeof item === 'object') {
      let entries = 0;
      for (const key of Object.keys(item)) {
        const element = (item as Record<string, unknown>)[key];
        if (isSkipped(element)) continue;
        bytes += stringBytes(key) + 1; // "key":
        entries++;
        stack.push(element);
      }
      bytes += entries === 0 ? 2 : entries + 1; // braces and the commas between entries
    }
    // undefined, a function or a symbol on its own: JSON.stringify gives undefined, 0 bytes
  }
  return Math.min(bytes, COUNT_CAP_BYTES + 1);
}

const isSkipped = (value: unknown): boolean =>
  value === undefined || typeof value === 'function' || typeof value === 'symbol';

/** What JSON escapes, and surrogates (a lone one is escaped): the rest is its UTF-8 as it is. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON escapes
const escaped = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Bytes of a string as JSON: quotes, escapes (`\n`, `\u0001`, lone surrogates) and UTF-8. */
function stringBytes(text: string): number {
  if (!escaped.test(text)) return Buffer.byteLength(text, 'utf8') + 2;
  let bytes = 2;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 34 || code === 92 || code === 8 || code === 9 || code === 10 || code === 12 || code === 13) bytes += 2;
    else if (code < 0x20) bytes += 6;
    else if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 6;
    } else if (code >= 0xdc00 && code <= 0xdfff) bytes += 6;
    else bytes += 3;
  }
  return bytes;
}
