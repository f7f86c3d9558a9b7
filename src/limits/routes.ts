import type { Category } from './table.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
export type MembershipKind = 'groups' | 'chatrooms';

/**
 * What a route does to group or chat-room membership, and where its users are named:
 * `path` the `{username}` segment, `path-list` the same as a comma list, `usernames` the body's
 * `usernames[]`, `owner+members` the body's `owner` and `members[]`, `all` every member (dissolve).
 * A deleted user (`forget`) leaves every group and chat room: both kinds.
 */
export type MembershipEffect =
  | {
      readonly kind: MembershipKind;
      readonly effect: 'join' | 'leave' | 'dissolve';
      readonly who: 'path' | 'path-list' | 'usernames' | 'owner+members' | 'all';
    }
  | { readonly kind?: undefined; readonly effect: 'forget'; readonly who: 'path' };

/**
 * Which fields of a send the IM server reads. The legacy `POST messages` API names recipients in
 * `target` and the content in `msg`; the current APIs use `to` and `body`; both add `ext`.
 * `audience`: `list` delivers to each recipient listed, `members` to the listed `users` of each
 * group or chat room in the list, `broadcast` to everyone (counted as one push).
 */
export interface MessageSend {
  readonly api: 'legacy' | 'current';
  readonly audience: 'list' | 'members' | 'broadcast';
}

const legacy = (audience: MessageSend['audience']): MessageSend => ({ api: 'legacy', audience });
const current = (audience: MessageSend['audience']): MessageSend => ({ api: 'current', audience });

export interface Route {
  readonly method: Method;
  /** The path below `/{org}/{app}/`; `{name}` is a parameter segment. */
  readonly path: string;
  readonly category: Category | null;
  readonly membership?: MembershipEffect;
  /** Sends a message: its content + `ext` is held to `messageMaxBytes`, its recipients to the daily quota. */
  readonly sends?: MessageSend;
  /** Downloads a file: paced, and counted in the cluster-wide downloads bucket. */
  readonly downloadsFile?: true;
}

/**
 * The IM REST route catalog (`routes.json`), every path below `/{org}/{app}/`, most specific first:
 * Express dispatches to the first registered route that matches, so an app that registers the
 * catalog in this order (`GET metadata/user/capacity` before `GET metadata/user/{username}`)
 * dispatches every request where `classify` says it goes.
 */
export const routes: readonly Route[] = mostSpecificFirst([
  { method: 'POST', path: 'token', category: null },
  { method: 'POST', path: 'users', category: 'users' },
  { method: 'GET', path: 'users/{username}', category: 'users' },
  { method: 'GET', path: 'users', category: 'users' },
  {
    method: 'DELETE',
    path: 'users/{username}',
    category: 'users',
    membership: { effect: 'forget', who: 'path' },
  },
  { method: 'DELETE', path: 'users', category: 'users' },
  { method: 'PUT', path: 'users/{username}/password', category: 'users' },
  { method: 'PUT', path: 'users/{username}', category: 'users' },
  { method: 'GET', path: 'users/{username}/status', category: 'users' },
  { method: 'POST', path: 'users/batch/status', category: 'users' },
  { method: 'GET', path: 'users/{username}/resources', category: 'users' },
  { method: 'PUT', path: 'push/nickname', category: 'users' },
  { method: 'PUT', path: 'users/{username}/notification/{chattype}/{key}', category: 'users' },
  { method: 'GET', path: 'users/{username}/notification/{chattype}/{key}', category: 'users' },
  { method: 'PUT', path: 'users/{username}/notification/language', category: 'users' },
  { method: 'GET', path: 'users/{username}/notification/language', category: 'users' },
  { method: 'PUT', path: 'users/{username}/notification/template', category: 'users' },
  { method: 'PUT', path: 'users/{username}/push/binding', category: 'users' },
  { method: 'GET', path: 'users/{username}/push/binding', category: 'users' },
  { method: 'PUT', path: 'metadata/user/{username}', category: 'users' },
  { method: 'GET', path: 'metadata/user/{username}', category: 'users' },
  { method: 'POST', path: 'metadata/user/get', category: 'users' },
  { method: 'DELETE', path: 'metadata/user/{username}', category: 'users' },
  { method: 'GET', path: 'metadata/user/capacity', category: 'users' },
  { method: 'POST', path: 'users/{username}/contacts/users/{friend}', category: 'contacts' },
  { method: 'DELETE', path: 'users/{username}/contacts/users/{friend}', category: 'contacts' },
  { method: 'GET', path: 'users/{username}/contacts/users', category: 'contacts' },
  { method: 'GET', path: 'user/{username}/contacts', category: 'contacts' },
  { method: 'GET', path: 'users/{username}/contacts', category: 'contacts' },
  { method: 'PUT', path: 'user/{username}/contacts/users/{friend}', category: 'contacts' },
  { method: 'PUT', path: 'users/{username}/contacts/users/{friend}', category: 'contacts' },
  { method: 'POST', path: 'users/{username}/contacts/import', category: 'contacts' },
  { method: 'POST', path: 'contacts/check', category: 'contacts' },
  { method: 'DELETE', path: 'contacts/users/{username}', category: 'contacts' },
  { method: 'GET', path: 'users/{username}/blocks/users', category: 'blocks' },
  { method: 'POST', path: 'users/{username}/blocks/users', category: 'blocks' },
  { method: 'DELETE', path: 'users/{username}/blocks/users/{blocked}', category: 'blocks' },
  { method: 'POST', path: 'blocks/check', category: 'blocks' },
  { method: 'POST', path: 'users/{username}/deactivate', category: 'bans' },
  { method: 'POST', path: 'users/{username}/activate', category: 'bans' },
  { method: 'GET', path: 'users/{username}/disconnect', category: 'bans' },
  { method: 'DELETE', path: 'users/{username}/disconnect/{resource}', category: 'bans' },
  { method: 'POST', path: 'mutes', category: 'bans' },
  { method: 'GET', path: 'mutes/{username}', category: 'bans' },
  { method: 'GET', path: 'mutes', category: 'bans' },
  { method: 'GET', path: 'users/{username}/offline_msg_count', category: 'offline' },
  { method: 'GET', path: 'users/{username}/offline_msg_status/{msg_id}', category: 'offline' },
  { method: 'GET', path: 'chatmessages/{time}', category: 'history' },
  { method: 'GET', path: 'chatmessages', category: 'history' },
  { method: 'POST', path: 'chatfiles', category: 'files' },
  { method: 'GET', path: 'chatfiles/{uuid}', category: 'files', downloadsFile: true },
  { method: 'POST', path: 'users/{username}/chatfiles/lifetime', category: 'files' },
  { method: 'POST', path: 'messages', category: 'messages', sends: legacy('list') },
  { method: 'POST', path: 'messages/users', category: 'messages', sends: current('list') },
  { method: 'POST', path: 'messages/chatgroups', category: 'messages', sends: current('list') },
  { method: 'POST', path: 'messages/chatrooms', category: 'messages', sends: current('list') },
  { method: 'POST', path: 'messages/chatgroups/users', category: 'messages', sends: current('members') },
  { method: 'POST', path: 'messages/chatrooms/users', category: 'messages', sends: current('members') },
  { method: 'POST', path: 'messages/chatrooms/broadcast', category: 'messages', sends: current('broadcast') },
  { method: 'POST', path: 'messages/broadcast', category: 'messages', sends: legacy('broadcast') },
  { method: 'POST', path: 'messages/users/broadcast', category: 'messages', sends: current('broadcast') },
  { method: 'POST', path: 'messages/msg_recall', category: 'messages' },
  { method: 'POST', path: 'messages/recall', category: 'messages' },
  { method: 'POST', path: 'messages/batch_recall', category: 'messages' },
  { method: 'PUT', path: 'messages/rewrite/{msg_id}', category: 'messages' },
  { method: 'POST', path: 'messages/users/import', category: 'messages' },
  { method: 'POST', path: 'messages/chatgroups/import', category: 'messages' },
  { method: 'DELETE', path: 'users/{username}/user_channel', category: 'messages' },
  { method: 'DELETE', path: 'rest/message/roaming/chat/user/{username}', category: 'messages' },
  { method: 'DELETE', path: 'rest/message/roaming/group/user/{username}', category: 'messages' },
  { method: 'POST', path: 'rest/message/roaming/user/{username}/delete/all', category: 'messages' },
  { method: 'DELETE', path: 'rest/message/roaming/chat/user/{username}/time', category: 'messages' },
  { method: 'DELETE', path: 'rest/message/roaming/group/user/{username}/time', category: 'messages' },
  { method: 'GET', path: 'chatgroups', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}', category: 'groups' },
  {
    method: 'POST',
    path: 'chatgroups',
    category: 'groups',
    membership: { kind: 'groups', effect: 'join', who: 'owner+members' },
  },
  { method: 'PUT', path: 'chatgroups/{group_id}', category: 'groups' },
  {
    method: 'DELETE',
    path: 'chatgroups/{group_id}',
    category: 'groups',
    membership: { kind: 'groups', effect: 'dissolve', who: 'all' },
  },
  { method: 'POST', path: 'chatgroups/{group_id}/disable', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/enable', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}/users', category: 'groups' },
  {
    method: 'POST',
    path: 'chatgroups/{group_id}/users/{username}',
    category: 'groups',
    membership: { kind: 'groups', effect: 'join', who: 'path' },
  },
  {
    method: 'POST',
    path: 'chatgroups/{group_id}/users',
    category: 'groups',
    membership: { kind: 'groups', effect: 'join', who: 'usernames' },
  },
  {
    method: 'DELETE',
    path: 'chatgroups/{group_id}/users/{username}',
    category: 'groups',
    membership: { kind: 'groups', effect: 'leave', who: 'path-list' },
  },
  { method: 'GET', path: 'chatgroups/user/{username}', category: 'groups' },
  { method: 'GET', path: 'users/{username}/joined_chatgroups', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}/user/{username}/is_joined', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}/blocks/users', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/blocks/users/{username}', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/blocks/users', category: 'groups' },
  { method: 'DELETE', path: 'chatgroups/{group_id}/blocks/users/{username}', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}/admin', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/admin', category: 'groups' },
  { method: 'DELETE', path: 'chatgroups/{group_id}/admin/{username}', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}/mute', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/mute', category: 'groups' },
  { method: 'DELETE', path: 'chatgroups/{group_id}/mute/{username}', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/ban', category: 'groups' },
  { method: 'DELETE', path: 'chatgroups/{group_id}/ban', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}/white/users', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/white/users/{username}', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/white/users', category: 'groups' },
  { method: 'DELETE', path: 'chatgroups/{group_id}/white/users/{username}', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}/announcement', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/announcement', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}/share_files', category: 'groups' },
  { method: 'POST', path: 'chatgroups/{group_id}/share_files', category: 'groups' },
  { method: 'GET', path: 'chatgroups/{group_id}/share_files/{file_id}', category: 'groups' },
  { method: 'DELETE', path: 'chatgroups/{group_id}/share_files/{file_id}', category: 'groups' },
  { method: 'PUT', path: 'metadata/chatgroup/{group_id}/user/{username}', category: 'groups' },
  { method: 'PUT', path: 'metadata/chatgroup/{group_id}/users/batch', category: 'groups' },
  { method: 'GET', path: 'metadata/chatgroup/{group_id}/user/{username}', category: 'groups' },
  { method: 'POST', path: 'metadata/chatgroup/{group_id}/get', category: 'groups' },
  { method: 'GET', path: 'chatrooms', category: 'chatrooms' },
  { method: 'GET', path: 'chatrooms/{chatroom_id}', category: 'chatrooms' },
  {
    method: 'POST',
    path: 'chatrooms',
    category: 'chatrooms',
    membership: { kind: 'chatrooms', effect: 'join', who: 'owner+members' },
  },
  { method: 'PUT', path: 'chatrooms/{chatroom_id}', category: 'chatrooms' },
  {
    method: 'DELETE',
    path: 'chatrooms/{chatroom_id}',
    category: 'chatrooms',
    membership: { kind: 'chatrooms', effect: 'dissolve', who: 'all' },
  },
  { method: 'GET', path: 'chatrooms/{chatroom_id}/users', category: 'chatrooms' },
  {
    method: 'POST',
    path: 'chatrooms/{chatroom_id}/users/{username}',
    category: 'chatrooms',
    membership: { kind: 'chatrooms', effect: 'join', who: 'path' },
  },
  {
    method: 'POST',
    path: 'chatrooms/{chatroom_id}/users',
    category: 'chatrooms',
    membership: { kind: 'chatrooms', effect: 'join', who: 'usernames' },
  },
  {
    method: 'DELETE',
    path: 'chatrooms/{chatroom_id}/users/{username}',
    category: 'chatrooms',
    membership: { kind: 'chatrooms', effect: 'leave', who: 'path-list' },
  },
  { method: 'GET', path: 'users/{username}/joined_chatrooms', category: 'chatrooms' },
  { method: 'GET', path: 'chatrooms/{chatroom_id}/admin', category: 'chatrooms' },
  { method: 'POST', path: 'chatrooms/{chatroom_id}/admin', category: 'chatrooms' },
  { method: 'DELETE', path: 'chatrooms/{chatroom_id}/admin/{username}', category: 'chatrooms' },
  { method: 'GET', path: 'chatrooms/{chatroom_id}/blocks/users', category: 'chatrooms' },
  { method: 'POST', path: 'chatrooms/{chatroom_id}/blocks/users/{username}', category: 'chatrooms' },
  { method: 'POST', path: 'chatrooms/{chatroom_id}/blocks/users', category: 'chatrooms' },
  { method: 'DELETE', path: 'chatrooms/{chatroom_id}/blocks/users/{username}', category: 'chatrooms' },
  { method: 'GET', path: 'chatrooms/{chatroom_id}/white/users', category: 'chatrooms' },
  { method: 'POST', path: 'chatrooms/{chatroom_id}/white/users/{username}', category: 'chatrooms' },
  { method: 'POST', path: 'chatrooms/{chatroom_id}/white/users', category: 'chatrooms' },
  { method: 'DELETE', path: 'chatrooms/{chatroom_id}/white/users/{username}', category: 'chatrooms' },
  { method: 'GET', path: 'chatrooms/{chatroom_id}/mute', category: 'chatrooms' },
  { method: 'POST', path: 'chatrooms/{chatroom_id}/mute', category: 'chatrooms' },
  { method: 'DELETE', path: 'chatrooms/{chatroom_id}/mute/{username}', category: 'chatrooms' },
  { method: 'POST', path: 'chatrooms/{chatroom_id}/ban', category: 'chatrooms' },
  { method: 'DELETE', path: 'chatrooms/{chatroom_id}/ban', category: 'chatrooms' },
  { method: 'GET', path: 'chatrooms/{chatroom_id}/announcement', category: 'chatrooms' },
  { method: 'POST', path: 'chatrooms/{chatroom_id}/announcement', category: 'chatrooms' },
  { method: 'GET', path: 'chatrooms/super_admin', category: 'chatrooms' },
  { method: 'POST', path: 'chatrooms/super_admin', category: 'chatrooms' },
  { method: 'DELETE', path: 'chatrooms/super_admin/{username}', category: 'chatrooms' },
  { method: 'POST', path: 'metadata/chatroom/{chatroom_id}', category: 'chatrooms' },
  { method: 'PUT', path: 'metadata/chatroom/{chatroom_id}/user/{username}', category: 'chatrooms' },
  { method: 'PUT', path: 'metadata/chatroom/{chatroom_id}/user/{username}/forced', category: 'chatrooms' },
  { method: 'DELETE', path: 'metadata/chatroom/{chatroom_id}/user/{username}', category: 'chatrooms' },
  { method: 'DELETE', path: 'metadata/chatroom/{chatroom_id}/user/{username}/forced', category: 'chatrooms' },
  { method: 'POST', path: 'users/{username}/presence/{resource}/{status}', category: null },
  { method: 'POST', path: 'users/{username}/presence/{expiry}', category: null },
  { method: 'POST', path: 'users/{username}/presence', category: null },
  { method: 'DELETE', path: 'users/{username}/presence', category: null },
  { method: 'GET', path: 'users/{username}/presence/sublist', category: null },
  { method: 'GET', path: 'presence/online/{group_id}/type/{query_type}', category: null },
  { method: 'POST', path: 'reaction/user/{username}', category: null },
  { method: 'GET', path: 'reaction/user/{username}', category: null },
  { method: 'DELETE', path: 'reaction/user/{username}', category: null },
  { method: 'GET', path: 'reaction/user/{username}/detail', category: null },
  { method: 'GET', path: 'thread', category: null },
  { method: 'POST', path: 'thread', category: null },
  { method: 'PUT', path: 'thread/{thread_id}', category: null },
  { method: 'DELETE', path: 'thread/{thread_id}', category: null },
  { method: 'GET', path: 'thread/{thread_id}/users', category: null },
  { method: 'POST', path: 'thread/{thread_id}/users', category: null },
  { method: 'DELETE', path: 'threads/{thread_id}/users', category: null },
  { method: 'GET', path: 'threads/user/{username}', category: null },
  { method: 'GET', path: 'threads/chatgroups/{group_id}/user/{username}', category: null },
  { method: 'POST', path: 'notification/template', category: null },
  { method: 'GET', path: 'notification/template/{name}', category: null },
  { method: 'DELETE', path: 'notification/template/{name}', category: null },
]);

/** At the first segment where two routes differ in kind, the literal one first (then the shorter). */
function mostSpecificFirst(catalog: Route[]): Route[] {
  const kinds = (route: Route) => route.path.split('/').map((segment) => (segment.startsWith('{') ? 1 : 0));
  return catalog.sort((a, b) => {
    const [ka, kb] = [kinds(a), kinds(b)];
    for (let i = 0; i < Math.min(ka.length, kb.length); i++)
      if (ka[i] !== kb[i]) return (ka[i] as number) - (kb[i] as number);
    return ka.length - kb.length;
  });
}
