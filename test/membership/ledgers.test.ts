import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/membership/memory-ledger.js';
import { RedisLedger } from '../../src/store/redis-ledger.js';
import { clusterClient, singleClient } from '../support/clients.js';
import { ledgerContract } from './ledger-contract.js';

const single = singleClient();
const cluster = clusterClient();

ledgerContract('MemoryLedger', (clock) => new MemoryLedger({ clock }));
ledgerContract('RedisLedger on Redis', (clock) => new RedisLedger(single, 'imrl-ledger', { clock }));
ledgerContract('RedisLedger on a Redis Cluster', (clock) => new RedisLedger(cluster, 'imrl-ledger', { clock }));

describe.each([
  ['Redis', single],
  ['a Redis Cluster', cluster],
] as const)('RedisLedger without a clock, on %s', (_, client) => {
  it('decides by Redis TIME: a hold past its deadline lapses, a confirmed one stays', async () => {
    const ledger = new RedisLedger(client, 'imrl-ledger');
    const app = `acme#app-${randomUUID()}`;
    expect(await ledger.reserve(app, 'groups', 'g1', ['ann'], 1, -1)).toEqual({ added: ['ann'] }); // due already
    expect(await ledger.reserve(app, 'groups', 'g2', ['ann'], 1, 60_000)).toEqual({ added: ['ann'] });
    await ledger.confirm(app, 'groups', 'g2', ['ann']);
    expect(await ledger.reserve(app, 'groups', 'g3', ['ann'], 1, 60_000)).toEqual({ refused: 'ann' });
  });
});
