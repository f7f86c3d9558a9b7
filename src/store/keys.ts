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

export function keyOf(prefix: string, tag: string, category: string, check: string): string {
  return `${prefix}:${tag}:${category}:${check}`;
}

/** One app's run-time settings (its edition and overrides as set by `setEdition`, `setOverrides`). */
export function settingsKey(prefix: string, appKey: string): string {
  return `${prefix}:${appTag(appKey)}:settings`;
}

/** The bucket every app and every process shares for file downloads (300/s across the cluster). */
export function clusterDownloadsKey(prefix: string): string {
  return `${prefix}:{global}:files:downloads`;
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
