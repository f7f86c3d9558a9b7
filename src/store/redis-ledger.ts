import { StoreError } from '../errors.js';
import type { MembershipKind } from '../limits/routes.js';
import { deadlinesKey, dissolvingKey, holdsKey, joinedKey, luaKeyOf, membershipSpace, membersKey } from './keys.js';
import type { MembershipLedger, Reservation } from './ledger.js';
import { LuaScript, notAcknowledged, type RedisClient, type ReplicaAck } from './lua-script.js';

/**
 * Shared by the scripts: `now` (ARGV given, or Redis TIME), and `keyOf`, keys.ts's builder of the
 * keys a script only learns as it runs. Every key of one app shares its hash tag, so on a Cluster
 * they all live on its node.
 */
const prelude = `${luaKeyOf}
local function clock(given)
  local now = tonumber(given)
  if now then return now end
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
-- beside a hold's count in the holds hash: the user was a member when it was placed, and has not
-- left since (0xFF never begins a UTF-8 string, so no group ID is such a field)
local function wasMember(group) return '\\255' .. group end
`;

/**
 * Every per-user script takes KEYS[1]: the group's members, then three keys per user: joined set,
 * deadlines, holds (`userKeys`). ARGV[1]: group, ARGV[2]: now ('' for Redis TIME), then as stated,
 * the users last.
 */
const perUser = `
local group, now = ARGV[1], clock(ARGV[2])
local function each(first, action)
  for u = 1, (#KEYS - 1) / 3 do
    local k = 3 * u - 1
    action(u, ARGV[first + u - 1], KEYS[k], KEYS[k + 1], KEYS[k + 2])
  end
end
local function unjoin(user, joined, deadlines, holds)
  redis.call('SREM', joined, group)
  redis.call('SREM', KEYS[1], user)
  redis.call('ZREM', deadlines, group)
  redis.call('HDEL', holds, group, wasMember(group))
end
-- a hold that ends without making a membership: a member before it stays one, anyone else leaves
local function unhold(user, joined, deadlines, holds)
  if redis.call('HEXISTS', holds, wasMember(group)) == 1 then
    redis.call('ZREM', deadlines, group)
    redis.call('HDEL', holds, group, wasMember(group))
  else
    unjoin(user, joined, deadlines, holds)
  end
end
`;

/**
 * ARGV[3]: max, ARGV[4]: holdMs, ARGV[5]: the prefix of every group's members key, ARGV[6..]: users.
 * Drops each user's lapsed holds, then refuses (0, index) if any user not yet in the group is at the
 * cap; otherwise holds everyone, members included, and answers (1, indexes of those it holds).
 * Atomic: two joins at the cap cannot both pass.
 */
const reserveScript = new LuaScript(`${prelude}${perUser}
local max, deadline, membersPrefix = tonumber(ARGV[3]), now + tonumber(ARGV[4]), ARGV[5]
each(6, function(_, user, joined, deadlines, holds)
  for _, lapsed in ipairs(redis.call('ZRANGEBYSCORE', deadlines, '-inf', now)) do
    if redis.call('HEXISTS', holds, wasMember(lapsed)) == 0 then
      redis.call('SREM', joined, lapsed)
      redis.call('SREM', keyOf(membersPrefix, lapsed), user)
    end
    redis.call('HDEL', holds, lapsed, wasMember(lapsed))
  end
  redis.call('ZREMRANGEBYSCORE', deadlines, '-inf', now)
end)
local refused
each(6, function(u, _, joined)
  if not refused and redis.call('SISMEMBER', joined, group) == 0 and redis.call('SCARD', joined) >= max then
    refused = u
  end
end)
if refused then return {0, refused} end
local reply = {1}
each(6, function(u, user, joined, deadlines, holds)
  if redis.call('SADD', joined, group) == 1 then
    redis.call('SADD', KEYS[1], user)
    redis.call('ZADD', deadlines, deadline, group)
    redis.call('HSET', holds, group, 1)
  elseif redis.call('HEXISTS', holds, group) == 1 then -- held by another join in flight: this one holds it too
    redis.call('HINCRBY', holds, group, 1)
    if tonumber(redis.call('ZSCORE', deadlines, group)) < deadline then redis.call('ZADD', deadlines, deadline, group) end
  else -- a member already: held too, so that a leave answered meanwhile cannot free the slot
    redis.call('ZADD', deadlines, deadline, group)
    redis.call('HSET', holds, group, 1, wasMember(group), 1)
  end
  reply[#reply + 1] = u
end)
return reply
`);

/** ARGV[3..]: users. Each user's hold becomes a membership; one that lapsed goes instead. */
const confirmScript = new LuaScript(`${prelude}${perUser}
each(3, function(_, user, joined, deadlines, holds)
  local deadline = tonumber(redis.call('ZSCORE', deadlines, group))
  if not deadline then return end
  if deadline <= now then
    unhold(user, joined, deadlines, holds)
  else
    redis.call('ZREM', deadlines, group)
    redis.call('HDEL', holds, group, wasMember(group))
  end
end)
`);

/** ARGV[3..]: users. Gives back one hold of each; the user leaves with the last, or once it lapsed. */
const releaseScript = new LuaScript(`${prelude}${perUser}
each(3, function(_, user, joined, deadlines, holds)
  local deadline = tonumber(redis.call('ZSCORE', deadlines, group))
  if not deadline then return end
  if deadline <= now or redis.call('HINCRBY', holds, group, -1) <= 0 then unhold(user, joined, deadlines, holds) end
end)
`);

/**
 * ARGV[3..]: users. Takes them out of the group; one a join in flight holds stays counted until that
 * join's answer (the IM server may apply the join after the leave), but is no longer a member before it.
 */
const leaveScript = new LuaScript(`${prelude}${perUser}
each(3, function(_, user, joined, deadlines, holds)
  if redis.call('ZSCORE', deadlines, group) then redis.call('HDEL', holds, wasMember(group))
  else unjoin(user, joined, deadlines, holds) end
end)
`);

/**
 * KEYS as for the others with the token's members first, then the group's members at KEYS[#KEYS].
 * ARGV[1]: token, ARGV[2]: now, ARGV[3]: group, ARGV[4..]: users. Each hold under the token that has
 * not lapsed becomes a membership of the group.
 */
const renameScript = new LuaScript(`${prelude}
local token, now, group = ARGV[1], clock(ARGV[2]), ARGV[3]
for u = 1, (#KEYS - 2) / 3 do
  local joined, deadlines, holds, user = KEYS[3 * u - 1], KEYS[3 * u], KEYS[3 * u + 1], ARGV[3 + u]
  local deadline = tonumber(redis.call('ZSCORE', deadlines, token))
  if deadline then
    redis.call('SREM', joined, token)
    redis.call('SREM', KEYS[1], user)
    redis.call('ZREM', deadlines, token)
    redis.call('HDEL', holds, token, wasMember(token))
    if deadline > now then
      redis.call('SADD', joined, group)
      redis.call('SADD', KEYS[#KEYS], user)
    end
  end
end
`);

/**
 * How many members one dissolve script takes out, and how many groups one forget script leaves: a
 * few hundred Redis commands, about a millisecond, so no script holds Redis up whatever a group's size.
 */
const CHUNK = 200;

/**
 * KEYS[1]: the space's groups being dissolved (a hash of group → SSCAN cursor). ARGV[1]: a group to
 * dissolve ('' to go on with those already there), ARGV[2]: the prefix of every members key,
 * ARGV[3..5]: of every user's joined set, deadlines and holds, ARGV[6]: how many members a chunk.
 * Takes about that many members out of one group of the hash, from where its scan stopped (SPOP would
 * sample an ever sparser table); a group with none left leaves the hash, one a join slipped into
 * is scanned again. Answers how many groups are still there. Each chunk is atomic, so a dissolve cut
 * short leaves every member either out or still whole, and the hash says what is left: the next
 * dissolve in the space finishes it.
 */
const dissolveScript = new LuaScript(`${prelude}
if ARGV[1] ~= '' then redis.call('HSETNX', KEYS[1], ARGV[1], '0') end
local group = redis.call('HRANDFIELD', KEYS[1])
if not group then return 0 end
local members = keyOf(ARGV[2], group)
local scan = redis.call('SSCAN', members, redis.call('HGET', KEYS[1], group), 'COUNT', ARGV[6])
for _, user in ipairs(scan[2]) do
  redis.call('SREM', members, user)
  redis.call('SREM', keyOf(ARGV[3], user), group)
  redis.call('ZREM', keyOf(ARGV[4], user), group)
  redis.call('HDEL', keyOf(ARGV[5], user), group, wasMember(group))
end
if redis.call('EXISTS', members) == 0 then redis.call('HDEL', KEYS[1], group)
else redis.call('HSET', KEYS[1], group, scan[1]) end
return redis.call('HLEN', KEYS[1])
`);

/**
 * KEYS: the user's joined set, deadlines, holds. ARGV[1]: user, ARGV[2]: the prefix of every members
 * key, ARGV[3]: how many groups at most. Takes the user out of that many of their groups; answers how
 * many are left.
 */
const forgetScript = new LuaScript(`${prelude}
for _, group in ipairs(redis.call('SPOP', KEYS[1], tonumber(ARGV[3]))) do
  redis.call('SREM', keyOf(ARGV[2], group), ARGV[1])
  redis.call('ZREM', KEYS[2], group)
  redis.call('HDEL', KEYS[3], group, wasMember(group))
end
local left = redis.call('SCARD', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[2], KEYS[3]) end
return left
`);

/** The reserve script's reply: (0, index of the user refused) or (1, indexes of the users held). */
function reservationOf(reply: unknown, users: readonly string[]): Reservation {
  if (!Array.isArray(reply) || !reply.every(Number.isInteger) || (reply[0] !== 0 && reply[0] !== 1)) {
    throw new StoreError('ERR_STORE_REPLY', `unexpected reply from the membership script: ${JSON.stringify(reply)}`);
  }
  const [ok, ...indexes] = reply as number[];
  if (ok === 0) return { refused: users[(indexes[0] as number) - 1] as string };
  return { added: indexes.map((index) => users[index - 1] as string) };
}

export interface RedisLedgerOptions {
  /** Time in ms for the scripts instead of Redis `TIME`: for tests with a fake clock only. */
  readonly clock?: (() => number) | undefined;
  /** A reservation holds only once these replicas do (the store's `replicas`); otherwise it is released. */
  readonly replicaAck?: ReplicaAck | undefined;
}

/**
 * The membership ledger in Redis, next to the buckets: every key of one app shares its hash tag,
 * so each operation runs on one Cluster slot: one script, or for a dissolve or a deleted user a
 * script per 200 members or groups. Keys, under `<prefix>:{<appKey>}:<kind>`:
 * `members:<group>` (set of users), `joined:<user>` (set of groups, held or confirmed),
 * `deadlines:<user>` (sorted set of held group → deadline in ms), `holds:<user>` (hash of held group
 * → joins holding it), `dissolving` (hash of groups being dissolved → scan cursor). No key carries
 * a TTL: a membership lasts until a leave, a dissolve or the user's deletion; a lapsed hold is
 * dropped by the user's next reservation, and counts for nothing meanwhile.
 */
export class RedisLedger implements MembershipLedger {
  /** Now in ms for the scripts, or '' for Redis TIME (so app servers with skewed clocks agree). */
  private readonly now: () => number | '';
  private readonly replicaAck: ReplicaAck | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly keyPrefix: string,
    options: RedisLedgerOptions = {},
  ) {
    this.now = options.clock ?? (() => '');
    this.replicaAck = options.replicaAck;
  }

  async reserve(
    appKey: string,
    kind: MembershipKind,
    group: string,
    users: readonly string[],
    max: number,
    holdMs: number,
  ): Promise<Reservation> {
    const space = membershipSpace(this.keyPrefix, appKey, kind);
    const args = [group, this.now(), max, holdMs, membersKey(space, ''), ...users];
    const keys = this.userKeys(space, group, users);
    const ack = this.replicaAck;
    if (ack === undefined) return reservationOf(await reserveScript.run(this.client, keys, args), users);
    const { reply, acknowledged } = await reserveScript.runAcknowledged(this.client, keys, args, ack);
    const reservation = reservationOf(reply, users);
    if (acknowledged || reservation.refused !== undefined) return reservation; // a refusal holds nothing
    // should the release fail too, the hold lapses after holdMs
    await this.release(appKey, kind, group, reservation.added).catch(() => {});
    throw notAcknowledged(ack);
  }

  confirm(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): Promise<void> {
    return this.perUser(confirmScript, appKey, kind, group, users);
  }

  release(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): Promise<void> {
    return this.perUser(releaseScript, appKey, kind, group, users);
  }

  leave(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): Promise<void> {
    return this.perUser(leaveScript, appKey, kind, group, users);
  }

  async rename(
    appKey: string,
    kind: MembershipKind,
    token: string,
    group: string,
    users: readonly string[],
  ): Promise<void> {
    if (users.length === 0) return;
    const space = membershipSpace(this.keyPrefix, appKey, kind);
    const keys = [...this.userKeys(space, token, users), membersKey(space, group)];
    await renameScript.run(this.client, keys, [token, this.now(), group, ...users]);
  }

  /** In chunks (`CHUNK` members a script); finishes too any dissolve of the space an earlier failure cut short. */
  async dissolve(appKey: string, kind: MembershipKind, group: string): Promise<void> {
    const space = membershipSpace(this.keyPrefix, appKey, kind);
    const keys = [dissolvingKey(space)];
    const prefixes = [membersKey(space, ''), joinedKey(space, ''), deadlinesKey(space, ''), holdsKey(space, '')];
    let next = group;
    while (Number(await dissolveScript.run(this.client, keys, [next, ...prefixes, CHUNK])) > 0) next = '';
  }

  /** In chunks (`CHUNK` groups a script). */
  async forget(appKey: string, kind: MembershipKind, user: string): Promise<void> {
    const space = membershipSpace(this.keyPrefix, appKey, kind);
    const keys = [joinedKey(space, user), deadlinesKey(space, user), holdsKey(space, user)];
    const args = [user, membersKey(space, ''), CHUNK];
    while (Number(await forgetScript.run(this.client, keys, args)) > 0);
  }

  private async perUser(
    script: LuaScript,
    appKey: string,
    kind: MembershipKind,
    group: string,
    users: readonly string[],
  ): Promise<void> {
    if (users.length === 0) return;
    const space = membershipSpace(this.keyPrefix, appKey, kind);
    await script.run(this.client, this.userKeys(space, group, users), [group, this.now(), ...users]);
  }

  /** The group's members key, then each user's joined set, deadlines and holds. */
  private userKeys(space: string, group: string, users: readonly string[]): string[] {
    const keys = [membersKey(space, group)];
    for (const user of users) keys.push(joinedKey(space, user), deadlinesKey(space, user), holdsKey(space, user));
    return keys;
  }
}
