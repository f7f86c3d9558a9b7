import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/index.js';
import { appWith, linesInto } from '../helpers.js';
import { singleClient } from '../support/clients.js';

const client = singleClient();

/**
 * The IM server's own membership source (`membership: { count }`) is not the store: its failure
 * refuses (or under `allow` admits) the join it was asked for, and leaves every other request to
 * the store, which answers.
 */
describe('a membership source that fails', () => {
  it('is not taken for the store failing: other requests are still decided in Redis', async () => {
    const warnings: string[] = [];
    const { app } = appWith({
      store: new RedisStore({ client, logger: { warn() {} } }),
      keyPrefix: `source-${Date.now()}`,
      onStoreError: 'deny',
      logger: linesInto(warnings),
      membership: {
        count: () => {
          throw new Error('the IM database is down');
        },
      },
    });
    const join = (await request(app).post('/acme/chat/chatgroups/g1/users/bob')).status;
    const others = [
      (await request(app).get('/acme/chat/chatgroups')).status,
      (await request(app).get('/acme/other/chatgroups')).status,
    ];
    expect({ join, others }).toEqual({ join: 503, others: [200, 200] });
    expect(warnings).toEqual([
      "im-rate-limit: WRN_STORE_DOWN: the store failed for the membership source (the IM database is down); policy 'deny' until it answers again",
    ]);
  });
});
