import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deadlinesKey, holdsKey, joinedKey, luaKeyOf, membershipSpace, membersKey } from '../../src/store/keys.js';
import { singleClient } from '../support/clients.js';

const client = singleClient();

/** Names and IDs as clients send them: the characters a key escapes among letters and any other text. */
const part = fc
  .array(fc.oneof(fc.constantFrom('%', '{', '}', '#', ':', '%7B', 'a', ''), fc.string({ unit: 'grapheme' })), {
    maxLength: 6,
  })
  .map((pieces) => pieces.join(''));

describe('the Lua key builder', () => {
  it('builds the keys the TypeScript builders build, with the same escaping', async () => {
    const space = membershipSpace('imrl', 'acme#chat', 'groups');
    const builders = [membersKey, joinedKey, deadlinesKey, holdsKey];
    await fc.assert(
      fc.asyncProperty(part, async (id) => {
        const prefixes = builders.map((build) => build(space, ''));
        const built = await client.eval(
          `${luaKeyOf}
local keys = {}
for i = 2, #ARGV do keys[#keys + 1] = keyOf(ARGV[i], ARGV[1]) end
return keys`,
          0,
          id,
          ...prefixes,
        );
        expect(built).toEqual(builders.map((build) => build(space, id)));
      }),
      { numRuns: 200 },
    );
  });
});
