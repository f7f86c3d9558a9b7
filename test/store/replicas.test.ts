import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, RedisStore } from '../../src/index.js';
import { appWith } from '../helpers.js';
import { type RedisProcess, startRedis } from '../support/redis.js';
import { SENTINEL_MASTER_NAME, type SentinelSet, startSentinelSet } from '../support/redis-ha.js';

/** Starting a Sentinel set and failing over take seconds on a slow CI machine. */
const TIMEOUT = 120_000;
const CAP = 5;
const DAILY_PUSHES = 10;

describe('RedisStore options replicas and replicaTimeoutMs', () => {
  it('are checked at start-up, with the field named', () => {
    const client = new Redis({ lazyConnect: true });
    const make = (options: object) => () => new RedisStore({ client, ...options });
    expect(make({ replicas: -1 })).toThrow(
      new ConfigError('ERR_INVALID_OPTION', 'replicas', 'must be a whole number, 0 or more (got -1)'),
    );
    expect(make({ replicas: 1.5 })).toThrow('replicas: must be a whole number, 0 or more (got 1.5)');
    expect(make({ replicas: 1, replicaTimeoutMs: 0 })).toThrow(
      'replicaTimeoutMs: must be a whole number of ms, 1 or more (got 0)',
    );
    const bare = { evalsha: client.evalsha.bind(client), eval: client.eval.bind(client) };
    expect(() => new RedisStore({ client: bare, replicas: 1 })).toThrow(
      'client: must have pipeline() (an ioredis client does) when replicas is above 0',
    );
    expect(new RedisStore({ client }).replicaAck).toBeUndefined();
    expect(new RedisStore({ client, replicas: 1 }).replicaAck).toEqual({ replicas: 1, timeoutMs: 20 });
    client.disconnect();
  });
});

/**
 * The failover of the issue: bob joins groups and the app sends pushes; the replica lags (SIGSTOP,
 * and its link cut, so that it cannot catch up from its socket's buffer);
 * more joins and pushes; the master is killed and the lagging replica promoted (SIGCONT); a fresh
 * replica joins the new master; bob joins and the app sends until refused. With `replicas: 1` the
 * cap and the daily quota hold exactly; without, what the replica had not received is lost.
 */
describe.each([
  { replicas: 1, joins: CAP, pushes: DAILY_PUSHES },
  { replicas: 0, joins: CAP + 2, pushes: DAILY_PUSHES + 4 },
])('a Sentinel failover with a lagging replica, replicas: $replicas', ({ replicas, joins, pushes }) => {
  let set: SentinelSet | undefined;
  let client: Redis | undefined;
  let newReplica: RedisProcess | undefined;
  beforeAll(async () => {
    set = await startSentinelSet();
  }, TIMEOUT);
  afterAll(async () => {
    client?.disconnect();
    await newReplica?.stop();
    await set?.stop();
  }, TIMEOUT);

  it(`admits ${joins} joins against a cap of ${CAP} and ${pushes} pushes against a daily quota of ${DAILY_PUSHES}`, {
    timeout: TIMEOUT,
  }, async () => {
    const ha = set as SentinelSet;
    const redis = new Redis({ sentinels: [...ha.sentinelAddresses], name: SENTINEL_MASTER_NAME });
    client = redis;
    redis.on('error', () => {}); // refused reconnects while the master is down: the application's to log
    const { app } = appWith({
      store: new RedisStore({ client: redis, replicas, replicaTimeoutMs: 200 }),
      storeTimeoutMs: 5000,
      onStoreError: 'deny',
      overrides: {
        'acme#app': {
          groups: { maxJoinedPerUser: CAP, ratePerSecond: 1e6 },
          messages: { dailyPushQuota: DAILY_PUSHES, ratePerSecond: 1e6 },
        },
      },
      logger: { warn: () => {} },
    });
    let groups = 0;
    const join = async (group = `g${++groups}`) =>
      (await request(app).post(`/acme/app/chatgroups/${group}/users/bob`)).status;
    const push = async () =>
      (
        await request(app)
          .post('/acme/app/messages/users')
          .send({ to: ['ann'], type: 'txt', body: { msg: 'hi' } })
      ).status;
    const admitted = { joins: 3, pushes: 6 }; // the first ones, each asserted 200 below
    const count = (kind: 'joins' | 'pushes', status: number) => {
      if (status === 200) admitted[kind]++;
    };

    for (let i = 0; i < 3; i++) expect(await join()).toBe(200);
    for (let i = 0; i < 6; i++) expect(await push()).toBe(200);
    expect(await redis.wait(1, 10_000)).toBe(1); // the replica holds all of it so far

    // the replica lags: stopped, and cut off so that nothing more reaches even its socket's buffer
    process.kill(ha.replica.pid, 'SIGSTOP');
    try {
      const master = new Redis({ port: ha.master.port, host: '127.0.0.1' });
      expect(await master.client('KILL', 'TYPE', 'replica')).toBe(1);
      master.disconnect();
      const lagging = {
        joins: [await join(), await join()],
        pushes: [await push(), await push(), await push(), await push()],
      };
      // with replicas: 1 nothing the replica lacks is admitted: the policy (deny) answers
      const expected = replicas === 1 ? 503 : 200;
      expect(lagging).toEqual({ joins: [expected, expected], pushes: [expected, expected, expected, expected] });
      for (const status of lagging.joins) count('joins', status);
      for (const status of lagging.pushes) count('pushes', status);
      await ha.kill(ha.master);
    } finally {
      process.kill(ha.replica.pid, 'SIGCONT');
    }
    const promoted = await ha.waitForPromotion(ha.master.port);
    expect(promoted.port).toBe(ha.replica.port);
    // a fresh replica for the new master, as an operator would bring back: replicas: 1 needs one
    newReplica = await startRedis();
    const fresh = new Redis({ port: newReplica.port, host: '127.0.0.1' });
    try {
      await fresh.replicaof('127.0.0.1', promoted.port);
      while (!(await fresh.info('replication')).includes('master_link_status:up')) await delay(100); // polls the sync
    } finally {
      fresh.disconnect();
    }

    /** The store answers again once the client has found the new master and the failover probed it. */
    const answered = async (call: () => Promise<number>) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const status = await call();
        if (status !== 503 || Date.now() > deadline) return status;
        await delay(100); // one call a second probes the store: poll until one finds it
      }
    };
    for (let i = 0; i < CAP + 3; i++) {
      const group = `g${++groups}`;
      const status = await answered(() => join(group));
      expect([200, 403]).toContain(status);
      count('joins', status);
    }
    for (let i = 0; i < DAILY_PUSHES + 3; i++) {
      const status = await answered(push);
      expect([200, 429]).toContain(status);
      count('pushes', status);
    }
    expect(admitted).toEqual({ joins, pushes });
  });
});
