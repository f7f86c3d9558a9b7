/**
 * The examples README.md and docs/ show verbatim (or a region of), each run as written. Bucket
 * time is the monotonic clock, faked here so that it stands still: a burst is exact however slow
 * the machine.
 */
import express, { type Express, type RequestHandler } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  atTheRoot,
  everyVersion,
  guarded,
  inAnAppRouter,
  inARouter,
  parserAfter,
  underAPrefix,
  withABasePath,
} from '../examples/mounting.js';
import { type Log, runTimeChanges, withAdmin, withControls, withMetrics } from '../examples/operating.js';
import { byPlan, figures, withAProPlan } from '../examples/quotas.js';
import { CountingStore, oneProcess, onPostgres } from '../examples/stores.js';
import { createServer } from '../examples/usage.js';
import { type AdminChange, type DecisionEvent, imRateLimit, MemoryStore } from '../src/index.js';
import { FakeClock, imError } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const reachLimit = imError('reach_limit', 'ReachLimitException', 'This request has reached api limit');
const send = { to: ['bob'], type: 'txt', body: { msg: 'hi' } };

/** The statuses of `count` requests made one after the other. */
async function statuses(count: number, make: () => request.Test): Promise<number[]> {
  const answered: number[] = [];
  for (let i = 0; i < count; i++) answered.push((await make()).status);
  return answered;
}
const tenThen429 = [...Array(10).fill(200), 429];

/** An app answering 200 to whatever the limiter lets through. */
function answering(app: Express): Express {
  app.use((req, res) => {
    res.json({ body: req.body ?? null });
  });
  return app;
}

it('runs examples/usage.ts', async () => {
  const app = createServer(new MemoryStore({ clock: new FakeClock().now }));
  const first = await request(app).post('/acme/chat/messages/users').send(send);
  expect(first.body).toEqual({ data: { bob: 'sent' } });
  expect(first.headers['ratelimit-policy']).toBe('"messages";q=100;w=1, "messages-daily";q=20000;w=86400');
  expect(await statuses(11, () => request(app).post('/custom/acme/other/notify'))).toEqual(tenThen429);
  expect(await statuses(11, () => request(app).get('/v2/acme/chat/rooms'))).toEqual(tenThen429);
});

describe('examples/mounting.ts', () => {
  it.each([
    ['at the root', atTheRoot, '/acme/chat/users'],
    ['under a prefix', underAPrefix, '/api/acme/chat/users'],
    ['with a basePath', withABasePath, '/v1/acme/chat/users'],
    ['with a basePath pattern', everyVersion, '/v3/acme/chat/users'],
  ] as const)('%s', async (_name, mount, path) => {
    const app = express();
    mount(app);
    answering(app);
    expect(await statuses(11, () => request(app).get(path))).toEqual(tenThen429);
  });

  it('inside a router mounted at /v1, and inside a router mounted at /:org/:app', async () => {
    const app = express();
    const v1 = express.Router();
    inARouter(v1);
    app.use('/v1', answering(v1 as unknown as Express));
    expect(await statuses(11, () => request(app).get('/v1/acme/chat/users'))).toEqual(tenThen429);

    const perApp = express.Router({ mergeParams: true });
    inAnAppRouter(perApp);
    app.use('/:org/:app', answering(perApp as unknown as Express));
    // the groups route of acme#chat, not the users route of an app "chatgroups#G"
    expect(await statuses(11, () => request(app).get('/acme/chat/chatgroups/G/users'))).toEqual(tenThen429);
    expect((await request(app).get('/acme/chat/users')).headers.ratelimit).toBe('"users";r=9;t=1');
  });

  it('runs the parser handed to it before its checks', async () => {
    const app = express();
    parserAfter(app);
    answering(app);
    expect((await request(app).post('/acme/chat/messages/users').send(send).expect(200)).body).toEqual({ body: send });
    const tooMany = { ...send, to: Array.from({ length: 601 }, (_, i) => `u${i}`) };
    const refused = await request(app).post('/acme/chat/messages/users').send(tooMany).expect(400);
    expect(refused.body.error_description).toBe('to accepts at most 600 recipients, got 601');
  });

  it('guards routes outside the catalog, by :org and :app, by appKey, and by decorator', async () => {
    const app = express();
    guarded(app);
    expect(await statuses(11, () => request(app).post('/custom/acme/chat/notify'))).toEqual(tenThen429);
    expect(await statuses(10, () => request(app).post('/hooks/a/push'))).toEqual(Array(10).fill(200));
    expect(await statuses(2, () => request(app).post('/hooks/b/push'))).toEqual([200, 200]); // its own bucket
    expect(await statuses(11, () => request(app).get('/v2/acme/chat/rooms'))).toEqual(tenThen429);
  });
});

describe('examples/operating.ts', () => {
  it('reports for one app, answers the others with onRefused, skips the internal key', async () => {
    const events: DecisionEvent[] = [];
    const log: Log = { info: (event) => events.push(event) };
    const app = express();
    withControls(app, log, 's3cret');
    const first = await request(app).get('/acme/chat/users').expect(200);
    expect(first.body).toEqual({ entities: [], remaining: 9 });
    expect(await statuses(10, () => request(app).get('/acme/chat/users'))).toEqual(Array(10).fill(200));
    expect(events.at(-1)).toMatchObject({ appKey: 'acme#chat', outcome: 'reported', reason: 'rate' });
    expect((await request(app).get('/acme/chat/users')).body).toEqual({ entities: [], remaining: null });

    expect(await statuses(10, () => request(app).get('/acme/other/users'))).toEqual(Array(10).fill(200));
    expect((await request(app).get('/acme/other/users').expect(429)).body).toEqual({ code: 'reach_limit' });
    const counted = events.length;
    await request(app).get('/acme/other/users').set('x-internal-key', 's3cret').expect(200);
    expect(events.length).toBe(counted);
  });

  it('serves the metrics', async () => {
    const app = express();
    withMetrics(app);
    answering(app);
    await request(app).get('/acme/chat/users').expect(200);
    expect((await request(app).get('/metrics').expect(200)).text).toContain(
      'im_rate_limit_requests_total{category="users",edition="community",outcome="admitted",reason=""} 1',
    );
  });

  it('makes the run-time changes', async () => {
    const asked: string[] = [];
    const { limits, state } = await runTimeChanges({
      addOnsOf: async (appKey) => {
        asked.push(appKey);
        return { messages: { ratePerSecond: 100 } };
      },
    });
    expect(limits.messages.ratePerSecond).toBe(30);
    expect(state.edition).toBe('enterprise');
    expect(state.settings.mode).toMatchObject({ everyApp: 'report', app: null, option: 'enforce' });
    expect(asked).toEqual(['acme#chat']);
  });

  it('audits a change made through the admin router', async () => {
    const changes: AdminChange[] = [];
    const operatorsOnly: RequestHandler = (req, res, next) => {
      if (req.get('x-operator') === undefined) res.sendStatus(401);
      else next();
    };
    const app = express();
    withAdmin(app, operatorsOnly, (change) => changes.push(change));
    await request(app).put('/admin/apps/acme/chat/edition').send({ edition: 'enterprise' }).expect(401);
    await request(app)
      .put('/admin/apps/ACME/Chat/edition')
      .set('x-operator', 'ops@acme')
      .send({ edition: 'enterprise' })
      .expect(200, { edition: 'enterprise' });
    expect(changes).toEqual([
      { action: 'edition', appKey: 'acme#chat', before: 'community', after: 'enterprise', actor: 'ops@acme' },
    ]);
  });
});

describe('examples/quotas.ts', () => {
  const accounts = (joined = 0) => ({
    planOf: async (appKey: string) => (appKey === 'bigco#im' ? 'enterprise' : undefined),
    joinedCount: async () => joined,
  });

  it('names each app an edition from its plan; overrides one app', async () => {
    const app = answering(express().use(express.json(), byPlan(accounts())));
    expect(await statuses(31, () => request(app).get('/bigco/im/users'))).toEqual([...Array(30).fill(200), 429]);
    expect(await statuses(11, () => request(app).get('/small/app/users'))).toEqual(tenThen429);
    const sent = await request(app).post('/acme/chat/messages/users').send(send).expect(200);
    expect(sent.headers['ratelimit-policy']).toMatch(/^"messages";q=100;w=1, /);
  });

  it('sets figures per app and counts memberships through your own count', async () => {
    const limiter = figures(accounts(2000));
    expect(limiter.rules('acme#chat').groups.maxJoinedPerUser).toBe(2000);
    expect(limiter.rules('acme#chat').messages.dailyPushQuota).toBeNull();
    expect(limiter.rules('acme#video').files.downloadBytesPerSecond).toBe(2 * 1024 * 1024);
    const app = answering(express().use(express.json(), limiter));
    const join = await request(app).post('/acme/chat/chatgroups/G1/users/alice').expect(403);
    expect(join.body.error).toBe('exceed_limit');
    const sent = await request(app).post('/acme/chat/messages/users').send(send).expect(200);
    expect(sent.headers['ratelimit-policy']).toBe('"messages";q=10;w=1'); // no daily quota for acme#chat
  });

  it('adds a plan of its own to the table', async () => {
    const app = answering(express().use(express.json(), withAProPlan()));
    const sends = () => request(app).post('/pro-x/chat/messages/users').send(send);
    expect(await statuses(21, sends)).toEqual([...Array(20).fill(200), 429]);
    const last = await request(app).post('/pro-x/chat/messages/users').send(send);
    expect(last.body).toEqual(reachLimit);
  });
});

describe('examples/stores.ts', () => {
  it('limits in one process', async () => {
    const app = answering(express().use(oneProcess()));
    expect(await statuses(11, () => request(app).get('/acme/chat/users'))).toEqual(tenThen429);
  });

  it('builds a rate-limiter-flexible store, and says memberships are counted per process', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      onPostgres({});
      expect(warn.mock.calls.map(([fields]) => fields.code)).toEqual(['WRN_LEDGER_PER_PROCESS']);
    } finally {
      warn.mockRestore();
    }
  });

  it('passes every call on through a store of your own; a remembered refusal makes none', async () => {
    const counting = new CountingStore(new MemoryStore({ clock: new FakeClock().now }));
    const limiter = imRateLimit({ store: counting });
    const app = answering(express().use(limiter));
    expect(await statuses(11, () => request(app).get('/acme/chat/users'))).toEqual(tenThen429);
    expect(counting.calls).toBe(11);
    expect((await request(app).get('/acme/chat/users').expect(429)).body).toEqual(reachLimit);
    expect(counting.calls).toBe(11);
    await limiter.setEdition('acme#chat', 'enterprise');
    expect(counting.readSettings('imrl:{acme#chat}:settings')).toEqual({ edition: 'enterprise' });
  });
});
