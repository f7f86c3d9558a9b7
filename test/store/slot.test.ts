import { Redis } from 'ioredis';
import { afterAll, expect, inject, it } from 'vitest';
import { slotOf } from '../../src/store/slot.js';

const node = new Redis({ port: inject('clusterPorts')[0] as number, host: '127.0.0.1' });
afterAll(() => node.disconnect());

it('puts every key in the slot the Cluster itself names', async () => {
  const keys = [
    'imrl:{acme#app}:groups:rate',
    'imrl:{global}:files:downloads',
    '{acme#app}',
    'no-tag-at-all',
    'empty{}tag',
    '{un}{two}',
    'imrl:{é%23ü#漢字}:messages:rate',
    '123456789',
  ];
  for (const key of keys) expect([key, slotOf(key)]).toEqual([key, await node.cluster('KEYSLOT', key)]);
});
