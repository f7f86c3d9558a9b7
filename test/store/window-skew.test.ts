import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/index.js';
import { dayEdgesMs } from '../../src/limits/calendar.js';
import type { WindowCheck } from '../../src/store/index.js';
import { singleClient } from '../support/clients.js';

/**
 * A Redis store picks the day by Redis TIME among the days each process sends around its own clock.
 * Processes whose clocks (or time zones) disagree must still share one count: a process whose clock
 * is days off, or a rolling deploy that changes `dailyQuota.timeZone`, must not reset it.
 */
const store = new RedisStore({ client: singleClient(), logger: { warn() {} } });
const DAY_MS = 86_400_000;
const LIMIT = 3;

/** Sends of one recipient against a daily limit of 3, each with the days of the clock or zone given. */
async function admitted(key: string, days: ReadonlyArray<readonly number[]>): Promise<number> {
  let count = 0;
  for (const edgesMs of days) {
    const check: WindowCheck = { type: 'window', key, limit: LIMIT, edgesMs, cost: 1 };
    if ((await store.take([check]))[0]?.allowed) count++;
  }
  return count;
}

const key = () => `skew:{${randomUUID()}}:messages:daily`;
const days = (offsetMs: number, zone = 'UTC') => dayEdgesMs(zone, Date.now() + offsetMs);

describe("the daily window on Redis, processes' clocks apart", () => {
  it('counts the sends of a process whose clock is two days behind Redis', async () => {
    const behind = Array.from({ length: 8 }, () => days(-2 * DAY_MS));
    expect(await admitted(key(), behind)).toBe(LIMIT);
  });

  it('keeps one count between a process two days ahead and one on time, sending in turn', async () => {
    const turns = Array.from({ length: 8 }, (_, i) => days(i % 2 === 0 ? 0 : 2 * DAY_MS));
    expect(await admitted(key(), turns)).toBe(LIMIT);
  });

  it('keeps one count between a process two days behind and one on time, sending in turn', async () => {
    const turns = Array.from({ length: 8 }, (_, i) => days(i % 2 === 0 ? 0 : -2 * DAY_MS));
    expect(await admitted(key(), turns)).toBe(LIMIT);
  });

  it('keeps one count between processes on two time zones, as in a deploy that changes it', async () => {
    const turns = Array.from({ length: 8 }, (_, i) => days(0, i % 2 === 0 ? 'UTC' : 'Pacific/Kiritimati'));
    expect(await admitted(key(), turns)).toBe(LIMIT);
  });
});
