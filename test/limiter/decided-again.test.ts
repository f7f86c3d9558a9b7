import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { type Options, RedisStore } from '../../src/index.js';
import { appWith, FakeClock, serving } from '../helpers.js';
import { singleClient } from '../support/clients.js';

/**
 * Attack 19c: requests decided again (the store held other settings than assumed) skip the refusal
 * cache the second time. Twins on one real Redis, each under its own key prefix, one remembering
 * refusals and one not, while an operator of each flips the app's settings between steps.
 */
describe('a limiter that remembers refusals, while the settings change under it on Redis', () => {
  const client = singleClient();
  const file = 'chatfiles/8f7c6b2a-1d2e-11ee-9c5b-0242ac120002';
  const small = {
    users: { ratePerSecond: 30, burst: 2, bulkRegistrationMax: 1 }, // two users registered at once: a payload refusal
    files: { ratePerSecond: 3, burst: 1 },
  };
  /** A step's request: a GET of `path`, or two users registered at once. */
  const sent = (server: Parameters<typeof request>[0], url: string, path: string) =>
    path === 'register'
      ? request(server)
          .post(url.replace(/register$/, 'users'))
          .send([
            { username: 'u1', password: 'p' },
            { username: 'u2', password: 'p' },
          ])
      : request(server).get(url);
  const other = { users: { ratePerSecond: 10, burst: 3 }, files: { ratePerSecond: 5, burst: 2 } };
  type Change =
    | 'none'
    | 'small'
    | 'other'
    | 'report'
    | 'enforce'
    | 'enterprise'
    | 'community'
    | 'all report'
    | 'all enforce';

  /** A change an operator makes between steps, often none. */
  const changes = fc.constantFrom<Change>(
    'none',
    'none',
    'small',
    'other',
    'report',
    'enforce',
    'enterprise',
    'community',
    'all report',
    'all enforce',
  );
  const advances = fc.constantFrom(0, 0, 50, 120, 400);

  /**
   * Two servers on one Redis, each under its own key prefix, one remembering refusals and one not,
   * and `change`, which makes a change through an operator of each. `maxCachedApps: 1`: every other
   * app's request forgets the plans (MemoMap), mid-flight too.
   */
  async function twins(clock: FakeClock, org: string) {
    const twin = (keyPrefix: string, options: Options) => {
      const made = (o: Options) =>
        appWith({
          store: new RedisStore({ client, clock: clock.now }),
          keyPrefix,
          clusterDownloadsPerSecond: 6,
          maxCachedApps: 1,
          ...o,
        });
      return { app: made({ editionCacheMs: 100, ...options }).app, operator: made({}).limiter };
    };
    const a = twin(`a${org}`, {});
    const b = twin(`b${org}`, { refusalCache: false });
    const [remembering, forgetting] = await Promise.all([serving(a.app), serving(b.app)]);
    const appKey = `${org}#chat`;
    const change = async (what: Change) => {
      for (const { operator } of [a, b]) {
        if (what === 'small' || what === 'other') await operator.setOverrides(appKey, what === 'small' ? small : other);
        else if (what === 'report' || what === 'enforce') await operator.setMode(appKey, what);
        else if (what === 'all report' || what === 'all enforce')
          await operator.setMode(what === 'all report' ? 'report' : 'enforce');
        else if (what !== 'none') await operator.setEdition(appKey, what);
      }
    };
    return { remembering, forgetting, change };
  }

  it('decides exactly as one that does not (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(fc.constantFrom('users', file, 'register'), fc.constantFrom('chat', 'other'), changes, advances),
          {
            minLength: 10,
            maxLength: 40,
          },
        ),
        async (steps) => {
          const clock = new FakeClock();
          const org = `o${randomUUID().slice(0, 8)}`;
          const { remembering, forgetting, change } = await twins(clock, org);
          for (const [path, appName, what, advanceMs] of steps) {
            await change(what);
            clock.advance(advanceMs);
            const url = `/${org}/${appName}/${path}`;
            const [x, y] = await Promise.all([sent(remembering, url, path), sent(forgetting, url, path)]);
            expect({ url, what, status: x.status }).toStrictEqual({ url, what, status: y.status });
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('admits as many as one that does not, requests at once (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom('users', file),
            fc.constantFrom('chat', 'other'),
            changes,
            advances,
            fc.integer({ min: 1, max: 4 }),
          ),
          { minLength: 10, maxLength: 40 },
        ),
        async (steps) => {
          const clock = new FakeClock();
          const org = `o${randomUUID().slice(0, 8)}`;
          const { remembering, forgetting, change } = await twins(clock, org);
          for (const [path, appName, what, advanceMs, many] of steps) {
            await change(what);
            clock.advance(advanceMs);
            const url = `/${org}/${appName}/${path}`;
            const admitted = async (server: typeof remembering) => {
              const answers = await Promise.all(Array.from({ length: many }, () => request(server).get(url)));
              return answers.filter((answer) => answer.status === 200).length;
            };
            const [x, y] = await Promise.all([admitted(remembering), admitted(forgetting)]);
            expect({ url, what, admitted: x }).toStrictEqual({ url, what, admitted: y });
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  // found by the property above: a refusal remembered under report mode answered after the store held enforce
  it.each([
    ['users', 429],
    [file, 429],
  ])('refuses %s once enforce is due, though a refusal was remembered under report mode', async (path, status) => {
    const clock = new FakeClock();
    const org = `o${randomUUID().slice(0, 8)}`;
    const made = (options: Options) =>
      appWith({ store: new RedisStore({ client, clock: clock.now }), clusterDownloadsPerSecond: 6, ...options });
    const { app } = made({ editionCacheMs: 100 });
    const operator = made({}).limiter;
    const appKey = `${org}#chat`;
    await operator.setOverrides(appKey, {
      users: { ratePerSecond: 1, burst: 1 },
      files: { ratePerSecond: 1, burst: 1 },
    });
    await operator.setMode(appKey, 'report');
    const server = await serving(app);
    const url = `/${org}/chat/${path}`;
    const statuses: number[] = [];
    // the token, then a refusal the store proved (reported: admitted), remembered for a second
    for (let i = 0; i < 2; i++) statuses.push((await request(server).get(url)).status);
    await operator.setMode(appKey, 'enforce');
    clock.advance(150); // the settings are due: the store holds enforce; the refusal still stands
    statuses.push((await request(server).get(url)).status);
    expect(statuses).toEqual([200, 200, status]);
  });

  // a request let through by a remembered refusal, decided again, then refused for its payload: it took nothing
  it.each([
    ['remembering', {}],
    ['not remembering', { refusalCache: false }],
  ] as const)('admits after a payload refusal decided again under the stored settings (%s)', async (_, options) => {
    const clock = new FakeClock();
    const org = `o${randomUUID().slice(0, 8)}`;
    const made = (o: Options) => appWith({ store: new RedisStore({ client, clock: clock.now }), ...o });
    const { app } = made({ editionCacheMs: 100, ...options });
    const operator = made({}).limiter;
    const appKey = `${org}#chat`;
    const users = { ratePerSecond: 10, burst: 2 }; // a token every 100 ms
    await operator.setOverrides(appKey, { users });
    const server = await serving(app);
    const url = `/${org}/chat/users`;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(server).get(url)).status); // 2 tokens, then a refusal
    await operator.setOverrides(appKey, { users: { ...users, bulkRegistrationMax: 1 } }); // the same figures
    clock.advance(150); // the refusal is over (1.5 tokens since), the settings due
    const register = [
      { username: 'u1', password: 'p' },
      { username: 'u2', password: 'p' },
    ];
    // let through, the settings differ, decided again: two users of one allowed, refused for its payload
    statuses.push((await request(server).post(url).send(register)).status);
    statuses.push((await request(server).get(url)).status); // the token the payload refusal did not take
    expect(statuses).toEqual([200, 200, 429, 400, 200]);
  });
});
