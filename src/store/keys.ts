import { escapeKeyPart } from '../limits/app-key.js';

/**
 * Every storage key is built here: `<prefix>:{<appKey>}:<category>:<check>`. The braces are the
 * Redis Cluster hash tag, so all of one app's keys share a slot and a request's checks are one
 * script call. The app key (`appKeyOf`) and every user or group ID are escaped so that nothing in a
 * name can break the tag or the separators.
 */

/** The hash tag of one app: `{org#app}`. */
export function appTag(appKey: string): string {
  return `{${appKey}}`;
}

/**
 * `<prefix>:<tag>:<category>:<check>` as one flat string: concatenated, a key would be a tree of V8
 * cons strings (the prefix, the tag, the app key and its parts), about 160 bytes more than its
 * characters, held as long as a MemoryStore holds its bucket. `join` writes the characters once.
 */
export function keyOf(prefix: string, tag: string, category: string, check: string): string {
  return [prefix, tag, category, check].join(':');
}

/** One app's run-time settings (its edition and overrides as set by `setEdition`, `setOverrides`). */
export function settingsKey(prefix: string, appKey: string): string {
  return `${prefix}:${appTag(appKey)}:settings`;
}

/**
 * The bucket every app and every process shares for file downloads (300/s across the cluster), or
 * one of its shards: `{global}` when it is one bucket, else a tag of `spreadTags('global', n)`
 * (`store/slot.ts`), which spread the shards over a Cluster's masters.
 */
export function clusterDownloadsKey(prefix: string, tag = 'global'): string {
  return `${prefix}:{${tag}}:files:downloads`;
}

/** The hash tag of a key (what Redis Cluster hashes), or the whole key when it has none. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** One app's groups or chat rooms in the membership ledger: `<prefix>:{<appKey>}:<kind>`. */
export function membershipSpace(prefix: string, appKey: string, kind: string): string {
  return `${prefix}:${appTag(appKey)}:${kind}`;
}

/** The set of groups (or chat rooms) a user has joined. */
export function joinedKey(space: string, user: string): string {
  return `${space}:joined:${escapeKeyPart(user)}`;
}

/** The set of a group's (or chat room's) members. */
export function membersKey(space: string, group: string): string {
  return `${space}:members:${escapeKeyPart(group)}`;
}

/** A user's joins in flight, beside `joinedKey`'s set: a sorted set of group → deadline in ms. */
export function deadlinesKey(space: string, user: string): string {
  return `${space}:deadlines:${escapeKeyPart(user)}`;
}

/** How many joins in flight hold each of a user's held groups: a hash of group → count. */
export function holdsKey(space: string, user: string): string {
  return `${space}:holds:${escapeKeyPart(user)}`;
}

/** The groups of a space being dissolved, chunk after chunk: a hash of group → scan cursor. */
export function dissolvingKey(space: string): string {
  return `${space}:dissolving`;
}

/**
 * The builders above in Lua, for the keys a script learns only as it runs (a dissolved group's
 * members, their sets): `keyOf(membersKey(space, ''), group)` is `membersKey(space, group)`, the
 * part escaped as `escapeKeyPart` escapes it (`%{}#:` as `%XX`, upper-case hex). The scripts that
 * use it are given the prefixes (`membersKey(space, '')`, …) built here; test/store/redis-keys.test.ts
 * holds the two escapings to one.
 */
export const luaKeyOf = `
local function escape(c) return string.format('%%%02X', string.byte(c)) end
local function keyOf(prefix, part) return prefix .. (string.gsub(part, '[%%{}#:]', escape)) end
`;

/**
 * One app's groups or chat rooms in a ledger kept in this process, by kind and app key: no prefix,
 * since no other process shares it.
 */
export function localSpaceKey(appKey: string, kind: string): string {
  return `${kind}:${appKey}`;
}
