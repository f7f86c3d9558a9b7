import { describe, expect, it } from 'vitest';
import { imRateLimit, type LogFields, MemoryStore, RateLimiterFlexibleStore, RedisStore } from '../../src/index.js';
import { ledgerFor } from '../../src/membership/ledgers.js';
import { MemoryLedger } from '../../src/membership/memory-ledger.js';
import type { MembershipLedger, Store } from '../../src/store/index.js';
import type { RedisClient } from '../../src/store/lua-script.js';
import { RedisLedger } from '../../src/store/redis-ledger.js';
import { linesInto } from '../helpers.js';

/** No server: choosing a ledger builds it, and a RedisLedger calls Redis only when asked to count. */
const client = { isCluster: false } as unknown as RedisClient;

const admitAll: Store['take'] = (checks) =>
  checks.map(() => ({ allowed: true, remaining: 9, resetMs: 1000, retryAfterMs: 0 }));
const flexible = () =>
  new RateLimiterFlexibleStore({
    create: () => {
      throw new Error('not reached: no request is made');
    },
  });

/** What choosing a ledger for `store` logs, and the ledger chosen. */
function choose(store: Store, option: Parameters<typeof ledgerFor>[0] = 'ledger') {
  const lines: string[] = [];
  const records: LogFields[] = [];
  const ledger = ledgerFor(option, store, 'imrl', linesInto(lines, records));
  return { ledger, lines, records };
}

describe('the ledger memberships are kept in', () => {
  it("is the store's own when it offers one: a RedisStore's is in Redis, under the key prefix", () => {
    const { ledger, lines } = choose(new RedisStore({ client }));
    expect(ledger).toBeInstanceOf(RedisLedger);
    expect(lines).toEqual([]);
  });

  it("is any store's own, asked with the key prefix: no type is singled out", () => {
    const own = { reserve: () => ({ added: [] }) } as unknown as MembershipLedger;
    const prefixes: string[] = [];
    const store: Store = {
      take: admitAll,
      shared: true,
      ledger: (keyPrefix) => {
        prefixes.push(keyPrefix);
        return own;
      },
    };
    const { ledger, lines } = choose(store);
    expect(ledger).toBe(own);
    expect(prefixes).toEqual(['imrl']);
    expect(lines).toEqual([]);
  });

  it('is one in this process for a store that keeps none, shared by every limiter on that store', () => {
    const store = new MemoryStore();
    const first = choose(store);
    expect(first.ledger).toBeInstanceOf(MemoryLedger);
    expect(choose(store).ledger).toBe(first.ledger);
    expect(choose(new MemoryStore()).ledger).not.toBe(first.ledger);
    expect(first.lines).toEqual([]); // a MemoryStore counts in this process too: nothing to warn of
  });

  it('beside a store other processes share, is one in this process, with a warning: the cap is per process', () => {
    const { ledger, lines, records } = choose(flexible());
    expect(ledger).toBeInstanceOf(MemoryLedger);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^im-rate-limit: WRN_LEDGER_PER_PROCESS: the store \(RateLimiterFlexibleStore\) is shared between processes but keeps no membership ledger/,
    );
    expect(records).toEqual([{ code: 'WRN_LEDGER_PER_PROCESS', store: 'RateLimiterFlexibleStore' }]);
  });

  it('is not warned of for a store that does not say it is shared', () => {
    expect(choose({ take: admitAll }).lines).toEqual([]);
  });

  it('is the option when it names one: a ledger, or a source of counts; never a warning', () => {
    const mine = { reserve: () => ({ added: [] }) } as unknown as MembershipLedger;
    const mineChosen = choose(flexible(), mine);
    expect(mineChosen.ledger).toBe(mine);
    expect(mineChosen.lines).toEqual([]);
    const counted = choose(flexible(), { count: () => 0 });
    expect(counted.ledger).not.toBeInstanceOf(MemoryLedger);
    expect(counted.lines).toEqual([]);
  });
});

describe('a limiter on a shared store without a ledger', () => {
  it('says so once, at start-up; not when the caps are off', () => {
    const warnings: string[] = [];
    imRateLimit({ store: flexible(), logger: linesInto(warnings) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('WRN_LEDGER_PER_PROCESS');
    const none: string[] = [];
    imRateLimit({ store: flexible(), membership: false, logger: linesInto(none) });
    expect(none).toEqual([]);
  });
});
