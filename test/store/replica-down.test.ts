import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/index.js';
import { appWith, linesInto } from '../helpers.js';
import { type RedisProcess, startReplicated } from '../support/redis.js';

/**
 * A replica that stops acknowledging is not the store failing: the master still answers. Only the
 * writes that wait for the replica (a send's daily count, a join's reservation) go to the policy;
 * every other request is decided in Redis as before.
 */
let master: RedisProcess;
let replica: RedisProcess;
let client: Redis;

beforeAll(async () => {
  ({ master, replica } = await startReplicated());
  client = new Redis({ port: master.port, host: '127.0.0.1' });
});
afterAll(async () => {
  client?.disconnect();
  await replica?.stop();
  await master?.stop();
});

describe('with replicas: 1, the replica stopped', () => {
  it('sends to the policy only the sends and joins, not every request of every app', async () => {
    const warnings: string[] = [];
    const { app } = appWith({
      store: new RedisStore({ client, replicas: 1, replicaTimeoutMs: 100, logger: { warn() {} } }),
      onStoreError: 'deny',
      logger: linesInto(warnings),
    });
    const get = async (name: string) => (await request(app).get(`/acme/${name}/chatgroups`)).status;
    const send = async () =>
      (
        await request(app)
          .post('/acme/app/messages/users')
          .send({ to: ['ann'], type: 'txt', body: { msg: 'hi' } })
      ).status;
    const join = async () => (await request(app).post('/acme/app/chatgroups/g1/users/bob')).status;
    expect([await send(), await join(), await get('app')]).toEqual([200, 200, 200]);

    process.kill(replica.pid, 'SIGSTOP');
    try {
      const statuses = [await send(), await get('app'), await get('other'), await join(), await get('app')];
      expect(statuses).toEqual([503, 200, 200, 503, 200]);
      expect(warnings).toEqual([]);
    } finally {
      process.kill(replica.pid, 'SIGCONT');
    }
  });
});
