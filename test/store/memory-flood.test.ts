import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { imRateLimit, MemoryStore } from '../../src/index.js';
import { dayEdgesMs } from '../../src/limits/calendar.js';
import { defaultTable, type EditionRules } from '../../src/limits/table.js';
import { MemoryLedger } from '../../src/membership/memory-ledger.js';
import { AppPlan, sharedChecks } from '../../src/plan.js';
import type { BucketCheck, WindowCheck } from '../../src/store/index.js';
import { FakeClock, linesInto } from '../helpers.js';

/**
 * A key-space flood: every request names an app nobody has, and each must leave little or nothing
 * behind. Heap figures are taken after a forced GC and divided by the apps: bytes per app do not
 * depend on the machine's speed, and 50,000 apps take a second of CPU. Each bound sits between the
 * figure measured here (a little above a million apps', BENCHMARKS.md "Key-space flood": a smaller
 * Map and fixed costs over fewer apps) and what the regression it guards held (that table's
 * "before"). `FLOOD_APPS=1000000` measures at a million.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapBytes = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const community = defaultTable.community as EditionRules;
const shared = sharedChecks('imrl', 300);
const APPS = Number(process.env.FLOOD_APPS ?? 50_000);
const quiet = { warn() {} };

/** Sends one message for each of `apps` invented apps through the whole middleware (no HTTP); returns how many it admitted. */
function flood(store: MemoryStore, apps: number): number {
  const limiter = imRateLimit({ store, logger: quiet });
  // a response each, as Express makes them: the limiter marks a request counted in its res.locals
  const res = () => ({ statusCode: 200, locals: {}, setHeader() {}, end() {} }) as unknown as Response;
  let admitted = 0;
  const next = (error?: unknown): void => {
    if (error === undefined) admitted++;
  };
  const body = { to: ['alice'], type: 'txt', body: { msg: 'hello' } };
  for (let i = 0; i < apps; i++) {
    const req = { method: 'POST', url: `/org${i}/app/messages/users`, headers: {}, body } as unknown as Request;
    limiter(req, res(), next);
  }
  return admitted;
}

describe('a flood of invented apps, one message each', () => {
  it('holds under 300 bytes per app in the MemoryStore (a bucket and a day), under 200 once the buckets refilled', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock: clock.now, maxEntries: 2 * APPS });
    const before = heapBytes();
    expect(flood(store, APPS)).toBe(APPS);
    expect(store.size).toBe(2 * APPS);
    const heldPerApp = (heapBytes() - before) / APPS;
    clock.advance(10_000); // each bucket refilled 100 ms after its take; the days last until midnight
    store.sweep();
    expect(store.size).toBe(APPS);
    const idlePerApp = (heapBytes() - before) / APPS;
    console.log(`MemoryStore: ${heldPerApp.toFixed(0)} bytes per app held, ${idlePerApp.toFixed(0)} per idle app`);
    expect(heldPerApp).toBeLessThan(300); // a day as an object per key held 618
    expect(idlePerApp).toBeLessThan(200); // and 389 idle
  });

  it('holds no more than maxEntries, under 180 bytes an entry at the cap, and says how many it dropped', () => {
    const clock = new FakeClock();
    const warnings: string[] = [];
    const store = new MemoryStore({ clock: clock.now, logger: linesInto(warnings), maxEntries: APPS });
    const before = heapBytes();
    // straight to the store, with the checks the limiter builds: the middleware's own cost is measured above
    const edgesMs = dayEdgesMs('UTC', clock.nowMs);
    let admitted = 0;
    for (let i = 0; i < APPS; i++) {
      const plan = new AppPlan(`org${i}#app`, 'community', community, shared);
      const [rate, day] = plan.category('messages').send?.checks ?? [];
      const checks = [rate, { ...day, edgesMs }] as [BucketCheck, WindowCheck];
      if (store.take(checks).every((reading) => reading.allowed)) admitted++;
    }
    expect(admitted).toBe(APPS);
    expect(store.size).toBe(APPS);
    const perEntry = (heapBytes() - before) / APPS;
    console.log(`MemoryStore at its cap: ${perEntry.toFixed(0)} bytes per entry`);
    expect(perEntry).toBeLessThan(180); // 117 MiB for the default 1,000,000; uncapped, 589 MiB
    // the first drop warns at once; the rest of that interval's at the next sweep
    expect(warnings).toEqual([
      `im-rate-limit: WRN_MEMORY_STORE_FULL: the MemoryStore is full (${APPS} entries); dropped 1 oldest`,
    ]);
    clock.advance(10_000);
    store.sweep();
    expect(warnings[1]).toBe(
      `im-rate-limit: WRN_MEMORY_STORE_FULL: the MemoryStore is full (${APPS} entries); dropped ${APPS - 1} oldest`,
    );
  });

  it('holds nothing in the membership ledger once each app reserved a join and released it', () => {
    const ledger = new MemoryLedger();
    const before = heapBytes();
    for (let i = 0; i < APPS; i++) {
      const appKey = `org${i}#app`;
      ledger.reserve(appKey, 'groups', '1234567890123', ['alice'], 500, 60_000);
      ledger.release(appKey, 'groups', '1234567890123', ['alice']);
    }
    expect(ledger.size).toBe(0);
    const perApp = (heapBytes() - before) / APPS;
    console.log(`MemoryLedger: ${perApp.toFixed(2)} bytes per app`);
    expect(perApp).toBeLessThan(10); // empty maps kept held 467
  });

  it('compiles only the categories an app uses: a cached plan that sent messages holds under 1,300 bytes', () => {
    const plans = new Map<string, AppPlan>();
    const before = heapBytes();
    for (let i = 0; i < 10_000; i++) {
      const plan = new AppPlan(`org${i}#app`, 'community', community, shared);
      plan.category('messages');
      plans.set(`org${i}#app`, plan);
    }
    const perApp = (heapBytes() - before) / plans.size;
    console.log(`plan cache: ${perApp.toFixed(0)} bytes per app`);
    expect(perApp).toBeLessThan(1300);
  });
});
