/**
 * The examples on Redis that README.md and docs/redis.md show verbatim, run against a real
 * redis-server of this file's own and the run's real Redis Cluster. `imRateLimit` is wrapped to
 * give `storeTimeoutMs: STORE_TIMEOUT_MS` (an example keeps the 50 ms default; a busy machine could
 * hold a call past it and the failure policy would decide instead); everything else runs as written.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { imError, STORE_TIMEOUT_MS } from './helpers.js';
import { ownRedis } from './support/own-redis.js';

vi.mock('im-rate-limit', async (importOriginal) => {
  const original = await importOriginal<typeof import('im-rate-limit')>();
  return {
    ...original,
    imRateLimit: (options: Parameters<typeof original.imRateLimit>[0] = {}) =>
      original.imRateLimit({ storeTimeoutMs: STORE_TIMEOUT_MS, ...options }),
  };
});

const redis = ownRedis();
const send = { to: ['alice', 'bob'], type: 'txt', body: { msg: 'hi' } };

describe('examples/quick-start.ts', () => {
  let server: import('node:http').Server;
  let base: string;

  beforeAll(async () => {
    vi.stubEnv('REDIS_URL', `redis://127.0.0.1:${redis.server.port}`);
    vi.stubEnv('PORT', '0');
    ({ server } = await import('../examples/quick-start.js'));
    if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers a send, counting its two recipients in the day kept in Redis', async () => {
    const sent = await request(base).post('/acme/chat/messages/users').send(send).expect(200);
    expect(sent.body).toEqual({ data: { alice: 'success', bob: 'success' } });
    expect(sent.headers['ratelimit-policy']).toBe('"messages";q=10;w=1, "messages-daily";q=20000;w=86400');
    expect(await redis.client.get('imrl:{acme#chat}:messages:daily')).toMatch(/^\d+:2$/);
  });

  it('refuses the second history download of a minute with the IM error body', async () => {
    // admitted, then answered 404 by Express: the example has no handler for it
    await request(base).get('/acme/chat/chatmessages').expect(404);
    const refused = await request(base).get('/acme/chat/chatmessages').expect(429);
    expect(refused.body).toEqual(imError('reach_limit', 'ReachLimitException', 'This request has reached api limit'));
    expect(await redis.client.exists('imrl:{acme#chat}:history:rate')).toBe(1);
  });

  it('answers a send that names no recipient, or has no body, without failing', async () => {
    const noRecipient = await request(base).post('/acme/nobody/messages/users').send({ type: 'txt' });
    const noBody = await request(base).post('/acme/nobody/messages/users');
    expect([noRecipient.status, noRecipient.body]).toEqual([200, { data: {} }]);
    expect([noBody.status, noBody.body]).toEqual([200, { data: {} }]);
  });

  it('refuses a send whose body is not JSON before taking anything', async () => {
    await request(base).post('/acme/other/messages/users').type('text').send('hi').expect(415);
    expect(await redis.client.exists('imrl:{acme#other}:messages:rate')).toBe(0);
  });
});

describe('examples/redis.ts', () => {
  const historyTwice = async (limiter: express.RequestHandler, path: string) => {
    const app = express().use(limiter);
    const statuses = [];
    for (let i = 0; i < 2; i++) statuses.push((await request(app).get(path)).status);
    return statuses;
  };

  it('limits through one server', async () => {
    const { oneServer, limiterOn } = await import('../examples/redis.js');
    const client = oneServer(`redis://127.0.0.1:${redis.server.port}`);
    try {
      expect(await historyTwice(limiterOn(client), '/examples/one/chatmessages')).toEqual([404, 429]);
      expect(await redis.client.exists('imrl:{examples#one}:history:rate')).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  it('limits through a Redis Cluster', async () => {
    const { cluster, limiterOn } = await import('../examples/redis.js');
    const client = cluster(inject('clusterPorts').map((port) => ({ host: '127.0.0.1', port })));
    try {
      const app = `cluster-${process.pid}-${Date.now()}`;
      expect(await historyTwice(limiterOn(client), `/examples/${app}/chatmessages`)).toEqual([404, 429]);
      expect(await client.exists(`imrl:{examples#${app}}:history:rate`)).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  it('builds a Sentinel client, and a store that waits for a replica', async () => {
    const { sentinels, storeWaitingForAReplica } = await import('../examples/redis.js');
    const client = sentinels([{ host: '127.0.0.1', port: redis.server.port }]);
    client.on('error', () => {}); // no sentinel answers there: only the client's options are under test
    try {
      expect(client.options).toMatchObject({ name: 'im', sentinels: [{ port: redis.server.port }] });
      expect(storeWaitingForAReplica(client).replicaAck).toEqual({ replicas: 1, timeoutMs: 20 });
    } finally {
      client.disconnect();
    }
  });
});
