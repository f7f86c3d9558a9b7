import { Registry } from 'prom-client';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { StoreError } from '../../src/index.js';
import type { MembershipLedger } from '../../src/store/index.js';
import { appWith } from '../helpers.js';

/** A ledger whose every recording after the IM server's answer fails, as a store gone down meanwhile would. */
const failing = (error: unknown): MembershipLedger => ({
  reserve: (_app, _kind, _group, users) => ({ added: users }),
  confirm: () => Promise.reject(error),
  release: () => Promise.reject(error),
  leave: () => Promise.reject(error),
  rename: () => Promise.reject(error),
  dissolve: () => Promise.reject(error),
  forget: () => {
    throw error;
  },
});

describe('a membership change the ledger fails to record', () => {
  it('is counted among the store failures, by code, as docs/operating.md says ("membership ledger included")', async () => {
    const registry = new Registry();
    const { app } = appWith({
      membership: failing(new StoreError('ERR_STORE', 'Redis failed: gone')),
      metrics: { registry },
    });
    const statuses = [
      (await request(app).post('/acme/chat/chatgroups/g1/users/bob')).status, // confirm
      (await request(app).delete('/acme/chat/chatgroups/g1/users/bob')).status, // leave
      (await request(app).delete('/acme/chat/users/bob')).status, // forget, thrown
    ];
    expect(statuses).toEqual([200, 200, 200]);
    const metric = registry.getSingleMetric('im_rate_limit_store_failures_total');
    const values = (await metric?.get())?.values ?? [];
    expect(values.find((value) => value.labels.code === 'ERR_STORE')?.value).toBe(3); // forget threw at its first kind
  });
});
