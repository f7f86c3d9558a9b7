import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MessageSend } from '../../src/catalog.js';
import { defaultTable } from '../../src/index.js';
import { checkSend, jsonBytes, pushesOf } from '../../src/limits/send.js';

const rules = defaultTable.community?.messages as NonNullable<typeof defaultTable.community>['messages'];
const legacy: MessageSend = { api: 'legacy', audience: 'list' };
const current: MessageSend = { api: 'current', audience: 'list' };
const targeted: MessageSend = { api: 'current', audience: 'members' };
const users = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);

describe('jsonBytes', () => {
  it('is the UTF-8 length of JSON.stringify for every JSON value, lone surrogates and escapes included', () => {
    fc.assert(
      fc.property(fc.jsonValue({ depthSize: 'medium' }), fc.string({ unit: 'binary' }), (value, text) => {
        expect(jsonBytes(value)).toBe(Buffer.byteLength(JSON.stringify(value), 'utf8'));
        expect(jsonBytes(text)).toBe(Buffer.byteLength(JSON.stringify(text), 'utf8'));
        expect(jsonBytes({ [text]: [text, null, -0, 1e21, true] })).toBe(
          Buffer.byteLength(JSON.stringify({ [text]: [text, null, -0, 1e21, true] }), 'utf8'),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('skips what JSON.stringify skips, and calls toJSON', () => {
    const value = { a: undefined, b: () => 1, c: [undefined, Symbol('s')], d: new Date(0), e: Number.NaN };
    expect(jsonBytes(value)).toBe(JSON.stringify(value).length);
    expect(jsonBytes(undefined)).toBe(0);
  });

  it('counts a body nested 200,000 deep without a stack overflow', () => {
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = i % 2 ? [deep] : { k: deep };
    // deep enough to overflow a recursive walk (JSON.stringify's too, before Node 26 walked it without recursion)
    const depthOf = (value: unknown): number =>
      typeof value === 'object' && value !== null ? 1 + depthOf(Object.values(value)[0]) : 0;
    expect(() => depthOf(deep)).toThrow(RangeError);
    expect(jsonBytes(deep)).toBe(2 + 100_000 * 2 + 100_000 * '{"k":}'.length);
  });
});

describe('checkSend: the fields the IM server reads', () => {
  it('refuses a body that carries the other API\u2019s spelling of recipients or content', () => {
    expect(checkSend(legacy, { target: users(100), to: [] }, rules)).toEqual({
      error: 'illegal_argument',
      description: 'to is not read by this route: it reads target and msg',
    });
    expect(checkSend(current, { body: { msg: 'x'.repeat(200_000) }, msg: 0 }, rules)).toEqual({
      error: 'illegal_argument',
      description: 'msg is not read by this route: it reads to and body',
    });
    expect(checkSend(current, { to: ['a'], target: ['b'] }, rules)?.description).toBe(
      'target is not read by this route: it reads to and body',
    );
    expect(checkSend(legacy, { target: ['a'], body: {} }, rules)?.description).toBe(
      'body is not read by this route: it reads target and msg',
    );
  });

  it('measures the route\u2019s own content field plus ext', () => {
    const text = (n: number) => ({ type: 'txt', msg: 'x'.repeat(n - 23) }); // 23 bytes of JSON around the text
    expect(checkSend(current, { to: ['a'], body: text(4096) }, rules)).toBeUndefined();
    expect(checkSend(current, { to: ['a'], body: text(4097) }, rules)?.description).toBe(
      'message is too large: 4097 bytes, limit 4096',
    );
    expect(checkSend(legacy, { target: ['a'], msg: text(4097) }, rules)?.error).toBe('message_send_error');
    expect(checkSend(legacy, { target: ['a'], msg: text(4000), ext: { k: 'x'.repeat(100) } }, rules)?.error).toBe(
      'message_send_error',
    );
  });

  it('holds recipient lists to lists of IDs, at most 600', () => {
    expect(checkSend(current, { to: users(600) }, rules)).toBeUndefined();
    expect(checkSend(current, { to: users(601) }, rules)?.description).toBe(
      'to accepts at most 600 recipients, got 601',
    );
    expect(checkSend(legacy, { target: users(601) }, rules)?.description).toBe(
      'target accepts at most 600 recipients, got 601',
    );
    for (const to of ['alice', { length: 1e9 }, [1, 2], [['a']], null]) {
      expect(checkSend(current, { to }, rules)?.description, JSON.stringify(to)).toBe('to must be a list of IDs');
    }
    expect(checkSend(targeted, { to: ['g1'], users: users(601) }, rules)?.description).toBe(
      'users accepts at most 600 recipients, got 601',
    );
  });

  it('ignores a __proto__ or constructor that is not the client\u2019s own field', () => {
    const body = JSON.parse('{"__proto__": {"to": ["x"]}, "to": ["a", "b"]}');
    expect(checkSend(current, body, rules)).toBeUndefined();
    expect(pushesOf(current, body)).toBe(2);
    expect(pushesOf(current, {})).toBe(1); // Object.prototype.constructor is no recipient list
  });
});

describe('pushesOf: what the daily quota counts', () => {
  it('counts every recipient the route delivers to', () => {
    expect(pushesOf(legacy, { target: users(100) })).toBe(100);
    expect(pushesOf(current, { to: users(7) })).toBe(7);
    expect(pushesOf(targeted, { to: ['g1', 'g2'], users: users(5) })).toBe(10);
    expect(pushesOf({ api: 'current', audience: 'broadcast' }, { to: users(9) })).toBe(1);
    expect(pushesOf(current, { to: [] })).toBe(1);
  });
});
