/**
 * The app key `org#app` is the one name every piece of per-app state is kept under: buckets, the
 * daily window, the ledger, the edition and override of the app, its compiled plan. It is built
 * here and nowhere else, from the percent-decoded names, so that every spelling of one app on the
 * wire (`ch%61t`, `chat`) is one key. In the names, `%`, `#`, `{`, `}` and `:` are percent-encoded:
 * `a#b`/`c` and `a`/`b#c` stay two apps, and the key can sit inside a Redis Cluster hash tag.
 */

export const nameCases = ['insensitive', 'sensitive'] as const;
/**
 * Whether names that differ only in letter case (`ACME/Chat` and `acme/chat`, users `Bob` and `bob`)
 * are one (`'insensitive'`, the default: an attacker cannot multiply a limit or a cap by changing
 * case) or two (`'sensitive'`, for an IM server that keeps them apart by case).
 */
export type NameCase = (typeof nameCases)[number];

const unsafe = /[%{}#:]/;

/** A name or ID as a part of a key: `%{}#:` percent-encoded, everything else as it is. */
export function escapeKeyPart(part: string): string {
  return unsafe.test(part) ? part.replace(/[%{}#:]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) : part;
}

/** The app key of decoded org and app names. */
export function appKeyOf(org: string, app: string, nameCase: NameCase = 'insensitive'): string {
  return `${escapeKeyPart(foldName(org, nameCase))}#${escapeKeyPart(foldName(app, nameCase))}`;
}

/**
 * A name as state is keyed by it, unless names are case-sensitive: case-folded by upper- then
 * lower-casing, so that every spelling any case-insensitive comparison takes for one name is one key
 * (`ſ` is `s`, the Kelvin sign is `k`, `ß` is `ss`). Coarser than an IM server's own comparison is
 * the safe side: two names it keeps apart may share a limit, one name never gets two.
 */
export function foldName(name: string, nameCase: NameCase): string {
  return nameCase === 'insensitive' && !isFolded(name) ? name.toUpperCase().toLowerCase() : name;
}

/** Whether a name is its own fold already: lower-case ASCII letters, digits, `-`, `_` and `.` (most names). */
function isFolded(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (!((code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 45 || code === 95 || code === 46))
      return false;
  }
  return true;
}

/**
 * An app key written by hand (an `overrides` entry, `setEdition`), in the canonical form:
 * `Acme#Chat` is `acme#chat`. `undefined` when it is not `org#app` (one `#`, both names non-empty).
 */
export function canonicalAppKey(key: string, nameCase: NameCase = 'insensitive'): string | undefined {
  const parts = key.split('#');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return undefined;
  return appKeyOf(unescapeKeyPart(parts[0] as string), unescapeKeyPart(parts[1] as string), nameCase);
}

/** Undoes `escapeKeyPart` only: any other `%XX` is part of the name. */
const unescapeKeyPart = (part: string): string =>
  part.replace(/%(25|7B|7D|23|3A)/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));

/** Length in characters (code points), not UTF-16 units: an emoji is one character. */
export function isLongerThan(text: string, maxChars: number): boolean {
  if (text.length <= maxChars) return false; // code points never outnumber UTF-16 units
  let chars = 0;
  for (const _ of text) if (++chars > maxChars) return true;
  return false;
}
