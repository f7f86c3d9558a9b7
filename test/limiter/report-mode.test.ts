import type { ServerResponse } from 'node:http';
import express from 'express';
import fc from 'fast-check';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { imRateLimit, MemoryStore, type Mode, type Options } from '../../src/index.js';
import { MemoryLedger } from '../../src/membership/memory-ledger.js';
import { FakeClock, linesInto, STORE_TIMEOUT_MS, serving } from '../helpers.js';
import { bothStores } from '../support/stores.js';

const FILE = '8f7c6b2a-1d2e-11ee-9c5b-0242ac120002';

/**
 * An IM server stand-in behind the limiter: every join, leave and dissolve succeeds (200), and a
 * download answers 1 MiB in one `res.end`. Before the limiter, each response's `write` is counted:
 * the pacer hands a body to it slice by slice (16 KiB each), an unpaced `end(body)` never calls it.
 */
function imServer(options: Options) {
  const limiter = imRateLimit({ storeTimeoutMs: STORE_TIMEOUT_MS, ...options });
  const writes = new WeakMap<ServerResponse, number>();
  const slices: number[] = [];
  const app = express()
    .use((_req, res, next) => {
      const write = res.write.bind(res) as (...args: unknown[]) => boolean;
      writes.set(res, 0);
      res.write = ((...args: unknown[]) => {
        writes.set(res, (writes.get(res) ?? 0) + 1);
        return write(...args);
      }) as typeof res.write;
      res.on('finish', () => slices.push(writes.get(res) ?? 0));
      next();
    })
    .use(limiter)
    .get('/:org/:app/chatfiles/:uuid', (_req, res) => {
      res.end(Buffer.alloc(1024 * 1024, 7));
    })
    .use((_req, res) => {
      res.json({ ok: true });
    });
  return { app, limiter, slices };
}

describe('report mode', () => {
  it('paces a download it lets past the rate, as it paces an admitted one', async () => {
    const clock = new FakeClock();
    const { app, slices } = imServer({
      store: new MemoryStore({ clock: clock.now }),
      mode: 'report',
      // 64 MiB/s: the test does not wait; one request a second, so the second is over the rate
      overrides: { 'acme#chat': { files: { ratePerSecond: 1, burst: 1, downloadBytesPerSecond: 64 * 1024 * 1024 } } },
    });
    const admitted = await request(app).get(`/acme/chat/chatfiles/${FILE}`);
    const reported = await request(app).get(`/acme/chat/chatfiles/${FILE}`);
    expect([admitted.status, reported.status]).toEqual([200, 200]);
    expect(reported.headers.ratelimit).toBe('"files";r=0;t=1');
    expect([admitted.headers['content-length'], reported.headers['content-length']]).toEqual(['1048576', '1048576']);
    expect(slices).toEqual([64, 64]); // 1 MiB in 16 KiB slices, both times
  });

  describe.each(bothStores())('keeps the membership ledger on the %s', (_name, setup) => {
    const server = (mode: Options['mode'], groupsRate: { ratePerSecond: number; burst: number }) => {
      const s = setup();
      const overrides = { [`acme#${s.app}`]: { groups: { ...groupsRate, maxJoinedPerUser: 2 } } };
      const made = imServer({ store: s.store, mode, overrides, logger: { warn() {} } });
      const base = `/acme/${s.app}/chatgroups`;
      const join = async (group: string, user: string) =>
        (await request(made.app).post(`${base}/${group}/users/${user}`)).status;
      const leave = async (group: string, user: string) =>
        (await request(made.app).delete(`${base}/${group}/users/${user}`)).status;
      return { ...made, ...s, appKey: `acme#${s.app}`, join, leave };
    };

    it('records joins it let past the cap: back in enforce, their user is at the cap', async () => {
      const { limiter, appKey, join, leave } = server('report', { ratePerSecond: 1000, burst: 1000 });
      for (const group of ['g1', 'g2', 'g3', 'g4']) expect(await join(group, 'alice')).toBe(200); // g3, g4 reported
      expect([await leave('g1', 'alice'), await leave('g2', 'alice')]).toEqual([200, 200]);
      await limiter.setMode(appKey, 'enforce');
      expect(await join('g5', 'alice')).toBe(403); // in g3 and g4
      expect(await leave('g3', 'alice')).toBe(200);
      expect(await join('g5', 'alice')).toBe(200);
    });

    it('records leaves it let past the rate: back in enforce, their user has room', async () => {
      const { limiter, appKey, clock, join, leave } = server('report', { ratePerSecond: 1, burst: 2 });
      expect([await join('g1', 'bob'), await join('g2', 'bob')]).toEqual([200, 200]);
      expect([await leave('g1', 'bob'), await leave('g2', 'bob')]).toEqual([200, 200]); // over the rate: reported
      await limiter.setMode(appKey, 'enforce');
      clock.advance(2000);
      expect([await join('g3', 'bob'), await join('g4', 'bob')]).toEqual([200, 200]);
    });

    it('follows a mode another process sets, for every app or one, within editionCacheMs', async () => {
      const s = setup();
      const overrides = { [`acme#${s.app}`]: { users: { ratePerSecond: 1, burst: 1 } } };
      const warnings: string[] = [];
      const logger = linesInto(warnings);
      // a prefix of its own: the mode of every app would reach the other suites sharing this Redis
      const keyPrefix = `report-${s.app}`;
      const [first, second] = [s.store, s.twin].map((store) =>
        imServer({ store, overrides, editionCacheMs: 1, refusalCache: false, logger, keyPrefix }),
      ) as [ReturnType<typeof imServer>, ReturnType<typeof imServer>];
      /** The second process's answer once its settings are 1 ms old: it reads them again (no token comes meanwhile). */
      const get = async () => {
        s.clock.advance(1);
        return (await request(second.app).get(`/acme/${s.app}/users`)).status;
      };
      expect([await get(), await get()]).toEqual([200, 429]);
      await first.limiter.setMode('report');
      expect(await get()).toBe(200);
      await first.limiter.setMode(`ACME#${s.app}`, 'enforce'); // the app's own choice comes first
      expect(await get()).toBe(429);
      await first.limiter.setMode(`acme#${s.app}`, undefined);
      expect(await get()).toBe(200);
      await first.limiter.setMode(undefined);
      expect(await get()).toBe(429);
      expect(warnings).toEqual([
        'im-rate-limit: WRN_ADMIN_CHANGE: mode of every app by the app: null -> "report"',
        `im-rate-limit: WRN_ADMIN_CHANGE: mode of "acme#${s.app}" by the app: null -> "enforce"`,
        `im-rate-limit: WRN_ADMIN_CHANGE: mode of "acme#${s.app}" by the app: "enforce" -> null`,
        'im-rate-limit: WRN_ADMIN_CHANGE: mode of every app by the app: "report" -> null',
      ]);
    });
  });

  it('keeps the ledger exactly as enforce does when everything is admitted: any joins, leaves and dissolves', async () => {
    type Step = { op: 'join' | 'leave'; user: string; group: string } | { op: 'dissolve'; group: string };
    const user = fc.constantFrom('ann', 'ben', 'cat');
    const group = fc.constantFrom('g1', 'g2', 'g3', 'g4');
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ op: fc.constantFrom('join' as const, 'leave' as const), user, group }),
      fc.record({ op: fc.constant('dissolve' as const), group }),
    );
    /** The ledger after `steps`: each user's groups, as the ledger holds them once every answer came. */
    const ledgerAfter = async (steps: Step[], mode: Mode, figures: { burst: number; maxJoinedPerUser: number }) => {
      const ledger = new MemoryLedger();
      const groups = { ratePerSecond: 1, ...figures };
      const { app } = imServer({
        store: new MemoryStore({ clock: new FakeClock().now }), // no refill: past the burst, every request is over the rate
        membership: ledger,
        mode,
        overrides: { 'acme#chat': { groups, chatrooms: groups } },
      });
      const server = await serving(app);
      const statuses: number[] = [];
      for (const s of steps) {
        const path =
          s.op === 'dissolve' ? `/acme/chat/chatgroups/${s.group}` : `/acme/chat/chatgroups/${s.group}/users/${s.user}`;
        statuses.push((await request(server)[s.op === 'join' ? 'post' : 'delete'](path)).status);
      }
      // the ledger's own maps: it has no reading API, and its state is what is compared
      const spaces = (ledger as unknown as { spaces: Map<string, { joined: Map<string, Set<string>> }> }).spaces;
      const joined = [...(spaces.get('groups:acme#chat')?.joined ?? [])].map(([u, g]) => [u, [...g].sort()]);
      return { statuses, joined: Object.fromEntries(joined) };
    };
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
        const reported = await ledgerAfter(steps, 'report', { burst: 3, maxJoinedPerUser: 1 });
        const admitted = await ledgerAfter(steps, 'enforce', { burst: 1000, maxJoinedPerUser: 1000 });
        expect(reported.statuses).toEqual(steps.map(() => 200));
        expect(admitted.statuses).toEqual(steps.map(() => 200));
        expect(reported.joined).toEqual(admitted.joined);
      }),
      { numRuns: 40 },
    );
  });
});

describe('report mode, a send of more pushes than the whole daily quota', () => {
  it('lets it through as any payload refusal, taking nothing: the event says reported', async () => {
    const outcomes: string[] = [];
    const { app } = imServer({
      store: new MemoryStore({ clock: new FakeClock().now }),
      mode: 'report',
      bodyParser: express.json({ limit: '2mb' }),
      onDecision: (event) => outcomes.push(`${event.outcome}/${event.reason ?? ''}`),
    });
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);
    const send = (groups: number, users: number) =>
      request(app)
        .post('/acme/chat/messages/chatgroups/users')
        .send({ to: ids(groups), users: ids(users), type: 'txt', body: { msg: 'hi' } });
    expect((await send(200, 200)).status).toBe(200); // 40,000 pushes against 20,000
    const whole = await send(100, 200); // the whole day's quota is still there
    expect(whole.status).toBe(200);
    expect(whole.headers.ratelimit).toMatch(/"messages-daily";r=0;/);
    expect(outcomes).toEqual(['reported/payload', 'admitted/']);
  });
});

describe('the mode of every app, set while the store keeps no settings', () => {
  /** A store whose buckets answer and whose settings never do: what this process chose is all it knows. */
  class SettingsDown extends MemoryStore {
    override readSettings(): never {
      throw new Error('settings unreachable');
    }
    override writeSettings(): never {
      throw new Error('settings unreachable');
    }
  }

  it('is not evicted by a flood of invented apps past maxCachedApps', async () => {
    const clock = new FakeClock();
    const limiter = imRateLimit({
      store: new SettingsDown({ clock: clock.now }),
      maxCachedApps: 2,
      overrides: { 'acme#chat': { users: { ratePerSecond: 1, burst: 1 } } },
      logger: { warn() {} },
    });
    const app = express().use(limiter, (_req, res) => res.json({ ok: true }));
    await limiter.setMode('report'); // the store did not take it: kept in this process only
    for (let i = 0; i < 5; i++) await request(app).get(`/invented/app${i}/users`);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(app).get('/acme/chat/users')).status);
    expect(statuses).toEqual([200, 200, 200]); // over the rate, reported: every app is still in report mode
  });
});
