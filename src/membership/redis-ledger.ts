import { StoreError } from '../errors.js';
import type { MembershipKind } from '../limits/routes.js';
import { joinedKey, membershipSpace, membersKey } from '../store/keys.js';
import { LuaScript, type RedisClient } from '../store/lua-script.js';
import type { MembershipLedger, Reservation } from './ledger.js';

/**
 * KEYS[1]: the group's members; KEYS[2..]: each user's joined set. ARGV[1]: group, ARGV[2]: max,
 * ARGV[3..]: users. Refuses (0, index) if any user not yet in the group is at the cap; otherwise adds
 * everyone and answers (1, indexes of those newly added). Atomic: two joins at the cap cannot both pass.
 */
const reserveScript = new LuaScript(`
local group, max = ARGV[1], tonumber(ARGV[2])
for i = 2, #KEYS do
  if redis.call('SISMEMBER', KEYS[i], group) == 0 and redis.call('SCARD', KEYS[i]) >= max then return {0, i - 1} end
end
local reply = {1}
for i = 2, #KEYS do
  if redis.call('SADD', KEYS[i], group) == 1 then
    redis.call('SADD', KEYS[1], ARGV[i + 1])
    reply[#reply + 1] = i - 1
  end
end
return reply
`);

/** KEYS as for reserve; ARGV[1]: group, ARGV[2..]: users. Takes the users out of the group. */
const removeScript = new LuaScript(`
for i = 2, #KEYS do
  redis.call('SREM', KEYS[i], ARGV[1])
  redis.call('SREM', KEYS[1], ARGV[i])
end
`);

/** KEYS[1]: the token's members, KEYS[2]: the group's, KEYS[3..]: joined sets. ARGV: token, group. */
const renameScript = new LuaScript(`
for i = 3, #KEYS do
  if redis.call('SREM', KEYS[i], ARGV[1]) == 1 then redis.call('SADD', KEYS[i], ARGV[2]) end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[1], KEYS[2])
  redis.call('DEL', KEYS[1])
end
`);

/**
 * KEYS[1]: the group's members. ARGV[1]: group, ARGV[2]: the prefix of every member's joined set.
 * Reads the members itself, so no call carries a list as long as a group, and a join cannot slip in
 * between reading and removing. Each member's key is built as `joinedKey` builds it (same escaping);
 * they share KEYS[1]'s hash tag, so on a Cluster they live on its node.
 */
const dissolveScript = new LuaScript(`
local function escape(c) return string.format('%%%02X', string.byte(c)) end
for _, user in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('SREM', ARGV[2] .. string.gsub(user, '[%%{}#:]', escape), ARGV[1])
end
redis.call('DEL', KEYS[1])
`);

/**
 * The membership ledger in Redis, next to the buckets: every key of one app shares its hash tag,
 * so each operation is one script on one Cluster slot. Ledger keys carry no TTL: a membership lasts
 * until a leave or a dissolve.
 */
export class RedisLedger implements MembershipLedger {
  constructor(
    private readonly client: RedisClient,
    private readonly keyPrefix: string,
  ) {}

  async reserve(
    appKey: string,
    kind: MembershipKind,
    group: string,
    users: readonly string[],
    max: number,
  ): Promise<Reservation> {
    const space = membershipSpace(this.keyPrefix, appKey, kind);
    const keys = [membersKey(space, group), ...users.map((user) => joinedKey(space, user))];
    const reply = await reserveScript.run(this.client, keys, [group, max, ...users]);
    if (!Array.isArray(reply) || !reply.every(Number.isInteger) || (reply[0] !== 0 && reply[0] !== 1)) {
      throw new StoreError('ERR_STORE_REPLY', `unexpected reply from the membership script: ${JSON.stringify(reply)}`);
    }
    const [ok, ...indexes] = reply as number[];
    if (ok === 0) return { refused: users[(indexes[0] as number) - 1] as string };
    return { added: indexes.map((index) => users[index - 1] as string) };
  }

  async release(appKey: string, kind: MembershipKind, group: string, users: readonly string[]): Promise<void> {
    if (users.length === 0) return;
    const space = membershipSpace(this.keyPrefix, appKey, kind);
    const keys = [membersKey(space, group), ...users.map((user) => joinedKey(space, user))];
    await removeScript.run(this.client, keys, [group, ...users]);
  }

  async rename(
    appKey: string,
    kind: MembershipKind,
    token: string,
    group: string,
    users: readonly string[],
  ): Promise<void> {
    const space = membershipSpace(this.keyPrefix, appKey, kind);
    const keys = [membersKey(space, token), membersKey(space, group), ...users.map((user) => joinedKey(space, user))];
    await renameScript.run(this.client, keys, [token, group]);
  }

  async dissolve(appKey: string, kind: MembershipKind, group: string): Promise<void> {
    const space = membershipSpace(this.keyPrefix, appKey, kind);
    await dissolveScript.run(this.client, [membersKey(space, group)], [group, joinedKey(space, '')]);
  }
}
