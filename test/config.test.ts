import { describe, expect, it } from 'vitest';
import { ConfigError, type ErrorCode, imRateLimit, type Options } from '../src/index.js';

function configError(options: unknown): ConfigError {
  try {
    imRateLimit(options as Options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('options are validated once, at start-up', () => {
  it.each<[ErrorCode, unknown, string]>([
    [
      'ERR_INVALID_OPTION',
      { overrides: { 'acme#chat': { messages: { ratePerSecond: -5 } } } },
      'overrides.acme#chat.messages.ratePerSecond: must be a positive number',
    ],
    // every figure is bounded: no override can make a bucket's arithmetic leave exact numbers
    [
      'ERR_INVALID_OPTION',
      { overrides: { 'acme#chat': { users: { ratePerSecond: 5e-324 } } } },
      'overrides.acme#chat.users.ratePerSecond: must be at least 0.000001 (one call in about 12 days)',
    ],
    [
      'ERR_INVALID_OPTION',
      { overrides: { 'acme#chat': { users: { ratePerSecond: 1e308 } } } },
      'overrides.acme#chat.users.ratePerSecond: must be at most 1000000',
    ],
    [
      'ERR_INVALID_OPTION',
      { overrides: { 'acme#chat': { users: { burst: 1e7 } } } },
      'overrides.acme#chat.users.burst: must be at most 1000000',
    ],
    [
      'ERR_INVALID_OPTION',
      { overrides: { 'acme#chat': { messages: { dailyPushQuota: 1e12 } } } },
      'overrides.acme#chat.messages.dailyPushQuota: must be at most 1000000000',
    ],
    [
      'ERR_INVALID_OPTION',
      { headers: 'draft-9' },
      "headers: must be 'draft', 'draft-8', 'draft-7', 'draft-6', 'legacy' or false",
    ],
    [
      'ERR_INVALID_OPTION',
      { validate: 'yes' },
      'validate: must be true, false or an object of WRN_NOTHING_CLASSIFIED, WRN_MEMORY_STORE_MULTI_PROCESS, ' +
        'WRN_COUNTED_TWICE, WRN_PARSER_AFTER_LIMITER to true or false',
    ],
    [
      'ERR_UNKNOWN_OPTION',
      { validate: { WRN_NOTHING_COUNTED: false } },
      'validate.WRN_NOTHING_COUNTED: is not a known option',
    ],
    ['ERR_INVALID_OPTION', { onStoreError: 'retry' }, "onStoreError: must be 'fallback', 'allow' or 'deny'"],
    ['ERR_INVALID_OPTION', { storeTimeoutMs: 0 }, 'storeTimeoutMs: must be a positive integer'],
    ['ERR_INVALID_OPTION', { store: {} }, 'store: must be a store (an object with take())'],
    [
      'ERR_INVALID_OPTION',
      { dailyQuota: { timeZone: 'Mars/Olympus' } },
      'dailyQuota.timeZone: must be an IANA time zone such as UTC or Asia/Shanghai',
    ],
    [
      'ERR_INVALID_OPTION',
      { overrides: { 'acme#chat': { users: { burst: 2.5 } } } },
      'overrides.acme#chat.users.burst: must be a positive integer',
    ],
    ['ERR_UNKNOWN_OPTION', { edtion: 'enterprise' }, 'edtion: is not a known option'],
    [
      'ERR_UNKNOWN_OPTION',
      { overrides: { 'acme#chat': { message: {} } } },
      'overrides.acme#chat.message: is not a known option',
    ],
    [
      'ERR_UNKNOWN_OPTION',
      { overrides: { 'acme#chat': { users: { messageMaxBytes: 10 } } } },
      'overrides.acme#chat.users.messageMaxBytes: is not a known option',
    ],
    [
      'ERR_UNKNOWN_EDITION',
      { edition: 'gold' },
      'edition: unknown edition "gold"; the table names community, enterprise',
    ],
  ])('%s: %j', (code, options, message) => {
    const error = configError(options);
    expect(error.code).toBe(code);
    expect(error.message).toBe(message);
  });

  it('ERR_UNKNOWN_EDITION from setEdition, and ERR_UNKNOWN_CATEGORY from guard and limit', () => {
    const limiter = imRateLimit();
    expect(() => limiter.setEdition('acme#chat', 'platinum')).toThrow(
      expect.objectContaining({
        code: 'ERR_UNKNOWN_EDITION',
        message: 'setEdition: unknown edition "platinum"; the table names community, enterprise',
      }),
    );
    const unknown = 'message' as Parameters<typeof limiter.guard>[0];
    const expected = expect.objectContaining({
      code: 'ERR_UNKNOWN_CATEGORY',
      message:
        'guard: unknown category "message"; expected one of users, contacts, blocks, bans, offline, history, files, messages, groups, chatrooms',
    });
    expect(() => limiter.guard(unknown)).toThrow(expected);
    expect(() => limiter.limit(unknown)).toThrow(expected);
  });

  it('accepts a table of its own, with a plan between the editions', () => {
    const base = imRateLimit().rules('x#y');
    const limiter = imRateLimit({
      table: { pro: { ...base, messages: { ...base.messages, ratePerSecond: 20, dailyPushQuota: null } } },
      edition: 'pro',
    });
    expect(limiter.rules('acme#chat').messages).toEqual({
      ratePerSecond: 20,
      messageMaxBytes: 4096,
      recipientsPerRequestMax: 600,
      dailyPushQuota: null,
    });
    expect(configError({ table: { pro: { users: base.users } } }).message).toBe(
      'table.pro.contacts: Invalid input: expected object, received undefined',
    );
  });
});

describe('the quota table', () => {
  it('holds the default figures of both editions', () => {
    const limiter = imRateLimit();
    const community = limiter.rules('acme#chat');
    limiter.setEdition('acme#chat', 'enterprise');
    const enterprise = limiter.rules('acme#chat');
    for (const category of [
      'users',
      'contacts',
      'blocks',
      'bans',
      'offline',
      'files',
      'messages',
      'groups',
      'chatrooms',
    ] as const) {
      expect(community[category].ratePerSecond).toBe(10);
      expect(enterprise[category].ratePerSecond).toBe(30);
    }
    expect(community.history).toEqual({ ratePerSecond: 1 / 60, burst: 1 });
    expect(enterprise.history).toEqual({ ratePerSecond: 1 / 60, burst: 1 });
    expect(community.users).toEqual({
      ratePerSecond: 10,
      userIdMaxChars: 64,
      bulkRegistrationMax: 60,
      idsPerRequestMax: 60,
    });
    expect(community.contacts).toEqual({ ratePerSecond: 10, userIdMaxChars: 64, idsPerRequestMax: 60 });
    expect(community.files).toEqual({ ratePerSecond: 10, downloadBytesPerSecond: 512_000 });
    const messages = { messageMaxBytes: 4096, recipientsPerRequestMax: 600 };
    expect(community.messages).toEqual({ ratePerSecond: 10, ...messages, dailyPushQuota: 20_000 });
    expect(enterprise.messages).toEqual({ ratePerSecond: 30, ...messages, dailyPushQuota: null });
    expect(community.groups).toEqual({ ratePerSecond: 10, maxJoinedPerUser: 500, idsPerRequestMax: 60 });
    expect(enterprise.chatrooms).toEqual({ ratePerSecond: 30, maxJoinedPerUser: 500, idsPerRequestMax: 60 });
  });

  it('lays per-app overrides over the edition', () => {
    const limiter = imRateLimit({
      overrides: { 'acme#chat': { messages: { ratePerSecond: 100, dailyPushQuota: null } } },
    });
    expect(limiter.rules('acme#chat').messages).toEqual({
      ratePerSecond: 100,
      messageMaxBytes: 4096,
      recipientsPerRequestMax: 600,
      dailyPushQuota: null,
    });
    expect(limiter.rules('other#app').messages.ratePerSecond).toBe(10);
  });
});
