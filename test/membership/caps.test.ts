import request from 'supertest';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createDemoApp } from '../../demo/app.js';
import type { Options } from '../../src/index.js';
import { STORE_TIMEOUT_MS, serving } from '../helpers.js';
import { type ExpressFactory, type ExpressVersion, expressVersions } from '../support/express.js';
import { bothStores } from '../support/stores.js';

/**
 * The demo IM server builds itself with `import express from 'express'`. In this file that import is
 * a stand-in that forwards every call (`express()`, `express.json()`, …) to the Express a suite
 * chose, so the same demo runs on Express 5 and on Express 4. (`expressVersions` imports 'express'
 * too, so its Express 5 is the stand-in itself: that choice forwards to the real Express 5.)
 */
const chosen = vi.hoisted(() => ({ express: undefined as unknown }));
vi.mock('express', async (importOriginal) => {
  const actual = await importOriginal<{ default: ExpressFactory }>();
  const real = actual.default;
  const current = (): typeof real =>
    chosen.express === undefined || chosen.express === switchable ? real : (chosen.express as typeof real);
  const switchable: typeof real = new Proxy(real, {
    apply: (_target, self, args) => Reflect.apply(current(), self, args),
    get: (_target, key) => Reflect.get(current(), key),
  });
  return { ...actual, default: switchable };
});

const kinds = [
  ['groups', 'chatgroups'],
  ['chatrooms', 'chatrooms'],
] as const;

const stores = bothStores();
/**
 * The slowest suite (thousands of joins): on Express 4 it runs on the MemoryStore only, since the
 * Redis ledger does the same whichever Express serves the joins.
 */
const storesOn = (version: ExpressVersion) =>
  version === expressVersions[0] ? stores : stores.filter(([name]) => name === 'MemoryStore');

describe.each(expressVersions)('$name', (version) => {
  const { express } = version;
  beforeAll(() => {
    chosen.express = express;
  });

  describe.each(storesOn(version))('membership caps on %s', (_, setup) => {
    describe.each(kinds)('%s (500 per user)', (kind, resource) => {
      /** The demo IM server (real group state) behind a limiter whose rates stay out of the way. */
      const server = async (options: Options = {}) => {
        const { store, twin, app } = setup();
        const overrides = { [`acme#${app}`]: { [kind]: { ratePerSecond: 1e6 } } };
        const make = (own: typeof store) =>
          serving(createDemoApp({ store: own, overrides, storeTimeoutMs: STORE_TIMEOUT_MS, ...options }).app);
        const demo = await make(store);
        const base = `/acme/${app}/${resource}`;
        const create = async (members: string[], owner = `owner-${Math.random()}`) => {
          const response = await request(demo).post(base).send({ groupname: 'g', name: 'r', owner, members });
          return {
            status: response.status,
            id: String(response.body.data?.groupid ?? response.body.data?.id),
            body: response.body,
          };
        };
        const addOne = (group: string, user: string, via = demo) => request(via).post(`${base}/${group}/users/${user}`);
        const addMany = (group: string, usernames: string[]) =>
          request(demo).post(`${base}/${group}/users`).send({ usernames });
        return { demo, twinDemo: () => make(twin), base, create, addOne, addMany };
      };

      it('admits the 500th membership and refuses the 501st, for single add, batch add and create', async () => {
        const { create, addOne, addMany, base, demo } = await server();
        const groups: string[] = [];
        for (let i = 0; i < 498; i++) {
          const created = await create(['alice', 'bob', 'carol']);
          expect(created.status).toBe(200);
          groups.push(created.id);
        }
        const [g1, g2, g3] = [(await create([])).id, (await create([])).id, (await create([])).id] as [
          string,
          string,
          string,
        ];

        // single add: alice 498 → 499 → 500, then refused
        expect((await addOne(g1, 'alice')).status).toBe(200);
        expect((await addOne(g2, 'alice')).status).toBe(200);
        const refused = await addOne(g3, 'alice');
        expect(refused.status).toBe(403);
        expect(refused.body).toMatchObject({
          error: 'exceed_limit',
          exception: 'ExceedLimitException',
          error_description: `user alice has joined too many ${kind}!`,
        });

        // a batch that would take any of its users past the cap is refused whole: bob and carol stay at 498
        const batch = await addMany(g3, ['bob', 'carol', 'alice']);
        expect(batch.status).toBe(403);
        expect(batch.body.error_description).toBe(`user alice has joined too many ${kind}!`);
        const members = await request(demo).get(`${base}/${g3}/users`);
        expect(members.body.data.map((m: Record<string, string>) => m.member ?? m.owner)).not.toContain('bob');

        // batch add: bob 498 → 499 → 500, then refused
        expect((await addMany(g1, ['bob'])).status).toBe(200);
        expect((await addMany(g2, ['bob', 'dave'])).status).toBe(200);
        expect((await addMany(g3, ['bob'])).status).toBe(403);

        // create with members: carol 498 → 499 → 500, then refused
        expect((await create(['carol'])).status).toBe(200);
        expect((await create(['carol', 'erin'])).status).toBe(200);
        const full = await create(['erin', 'carol']);
        expect(full.status).toBe(403);
        expect(full.body.error_description).toBe(`user carol has joined too many ${kind}!`);

        // the owner of a new group counts too
        expect((await create([], 'alice')).status).toBe(403);

        // a leave makes room; so does a dissolve
        expect((await request(demo).delete(`${base}/${g1}/users/alice`)).status).toBe(200);
        expect((await addOne(g3, 'alice')).status).toBe(200);
        expect((await addOne(groups[0] as string, 'alice')).status).toBe(200); // already a member: no new membership
        expect((await request(demo).delete(`${base}/${g2}`)).status).toBe(200); // alice, bob and dave were members
        expect((await addMany(g3, ['bob'])).status).toBe(200);
        expect((await create(['carol'])).status).toBe(403);
        expect((await request(demo).delete(`${base}/${groups[1]}`)).status).toBe(200); // one of carol's (created with her)
        expect((await create(['carol'])).status).toBe(200);
      });

      it('undoes a reservation when the join fails', async () => {
        const { addOne, create } = await server();
        for (let i = 0; i < 500; i++) expect((await create(['frank'])).status).toBe(200);
        const ghost = await addOne('no-such-group', 'frank');
        expect(ghost.status).toBe(403); // at the cap already
        const { addOne: addToOther, create: createOther } = await server();
        for (let i = 0; i < 499; i++) await createOther(['gina']);
        expect((await addToOther('no-such-group', 'gina')).status).toBe(404); // reserved, then undone
        expect((await createOther(['gina'])).status).toBe(200); // the 500th still fits
      });

      it('lets exactly one of two concurrent joins at 499 through', async () => {
        const { create, addOne, twinDemo } = await server();
        for (let i = 0; i < 499; i++) await create(['hank']);
        const [a, b] = [(await create([])).id, (await create([])).id] as [string, string];
        const other = await twinDemo(); // a second server process on the same store
        const statuses = (await Promise.all([addOne(a, 'hank'), addOne(b, 'hank', other)])).map((r) => r.status).sort();
        expect(statuses).toEqual([200, 403]);
      });
    });
  });

  describe('a membership source of the IM server', () => {
    it('asks count() for every user a join names, and refuses at the cap; membership: false turns caps off', async () => {
      const asked: string[] = [];
      const counts: Record<string, number> = { ivy: 499, jack: 500 };
      const membership = {
        count: async (appKey: string, kind: string, user: string) => {
          asked.push(`${appKey} ${kind} ${user}`);
          return counts[user] ?? 0;
        },
      };
      const { app } = createDemoApp({ membership });
      const group = (await request(app).post('/acme/chat/chatgroups').send({ owner: 'kim', members: [] })).body.data
        .groupid;
      expect((await request(app).post(`/acme/chat/chatgroups/${group}/users/ivy`)).status).toBe(200);
      const refused = await request(app)
        .post(`/acme/chat/chatgroups/${group}/users`)
        .send({ usernames: ['ivy', 'jack'] });
      expect(refused.status).toBe(403);
      expect(refused.body.error_description).toBe('user jack has joined too many groups!');
      expect(asked).toEqual([
        'acme#chat groups kim',
        'acme#chat groups ivy',
        'acme#chat groups ivy',
        'acme#chat groups jack',
      ]);

      const uncapped = createDemoApp({
        membership: false,
        overrides: { 'acme#chat': { groups: { ratePerSecond: 1e6 } } },
      }).app;
      const open = (await request(uncapped).post('/acme/chat/chatgroups').send({ owner: 'kim' })).body.data.groupid;
      for (let i = 0; i < 3; i++)
        expect((await request(uncapped).post(`/acme/chat/chatgroups/${open}/users/jack`)).status).toBe(200);
    });
  });
});
