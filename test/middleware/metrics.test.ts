import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, MemoryStore, type Options, StoreError } from '../../src/index.js';
import type { Store } from '../../src/store/index.js';
import { appWith, FakeClock } from '../helpers.js';

/** A send the community edition counts one push for. */
const send = { to: ['bob'], type: 'txt', body: { msg: 'hi' } };
const tooManyJoins = { usernames: Array.from({ length: 61 }, (_, i) => `u${i}`) };

/** `name`'s series as `labels → value`, labels written `k=v,…` in a fixed order. */
async function series(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`${name} is not registered`);
  const out: Record<string, number> = {};
  const { values } = (await metric.get()) as { values: Array<{ labels: object; value: number; metricName?: string }> };
  for (const { labels, value, metricName } of values) {
    const key = Object.entries(labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    out[metricName && metricName !== name ? `${metricName.slice(name.length)}{${key}}` : key] = value;
  }
  return out;
}

/** 11 sends (10 admitted, 1 over the rate) and one bulk join too big for the groups category. */
async function traffic(options: Options) {
  const { app } = appWith({ store: new MemoryStore({ clock: new FakeClock().now }), ...options });
  for (let i = 0; i < 11; i++) await request(app).post('/acme/chat/messages/users').send(send);
  await request(app).post('/acme/chat/chatgroups/1/users').send(tooManyJoins);
  await request(app).post('/acme/chat/token'); // not classified: not counted
  return app;
}

describe('metrics: { registry }', () => {
  it('counts every classified request by category, edition, outcome and reason', async () => {
    const registry = new Registry();
    await traffic({ metrics: { registry } });
    expect(await series(registry, 'im_rate_limit_requests_total')).toEqual({
      'category=messages,edition=community,outcome=admitted,reason=': 10,
      'category=messages,edition=community,outcome=refused,reason=rate': 1,
      'category=groups,edition=community,outcome=refused,reason=payload': 1,
    });
    const text = await registry.metrics();
    expect(text).toContain('# TYPE im_rate_limit_requests_total counter');
    expect(text).toContain(
      'im_rate_limit_requests_total{category="messages",edition="community",outcome="admitted",reason=""} 10',
    );
    // every store call timed: the 11 sends; the payload refusal never reached the store
    const durations = await series(registry, 'im_rate_limit_store_duration_seconds');
    expect(durations['_count{store=MemoryStore}']).toBe(11);
    expect(durations['_bucket{le=+Inf,store=MemoryStore}']).toBe(11);
    expect(durations['_sum{store=MemoryStore}']).toBeGreaterThan(0);
    expect(await series(registry, 'im_rate_limit_degraded')).toEqual({ '': 0 });
    expect(await series(registry, 'im_rate_limit_store_failures_total')).toEqual({
      'code=ERR_STORE': 0,
      'code=ERR_STORE_TIMEOUT': 0,
      'code=ERR_STORE_REPLICAS': 0,
      'code=ERR_STORE_REPLY': 0,
    });
  });

  it("in report mode counts what would have been refused as 'reported'", async () => {
    const registry = new Registry();
    const app = await traffic({ metrics: { registry }, mode: 'report' });
    expect((await request(app).post('/acme/chat/messages/users').send(send)).status).toBe(200);
    expect(await series(registry, 'im_rate_limit_requests_total')).toEqual({
      'category=messages,edition=community,outcome=admitted,reason=': 10,
      'category=messages,edition=community,outcome=reported,reason=rate': 2,
      'category=groups,edition=community,outcome=reported,reason=payload': 1,
    });
  });

  it('adds an app label with appLabel: true', async () => {
    const registry = new Registry();
    await traffic({ metrics: { registry, appLabel: true } });
    expect(await series(registry, 'im_rate_limit_requests_total')).toEqual({
      'app=acme#chat,category=messages,edition=community,outcome=admitted,reason=': 10,
      'app=acme#chat,category=messages,edition=community,outcome=refused,reason=rate': 1,
      'app=acme#chat,category=groups,edition=community,outcome=refused,reason=payload': 1,
    });
  });

  it('feeds onDecision and the metrics from the same decisions', async () => {
    const registry = new Registry();
    const outcomes: string[] = [];
    await traffic({ metrics: { registry }, onDecision: (event) => outcomes.push(event.outcome) });
    expect(outcomes).toHaveLength(12);
    const counted = Object.values(await series(registry, 'im_rate_limit_requests_total'));
    expect(counted.reduce((a, b) => a + b, 0)).toBe(12);
  });

  it('shares the series of limiters on one registry, and refuses to mix appLabel on it', async () => {
    const registry = new Registry();
    await traffic({ metrics: { registry } });
    await traffic({ metrics: { registry } });
    expect(
      (await series(registry, 'im_rate_limit_requests_total'))[
        'category=groups,edition=community,outcome=refused,reason=payload'
      ],
    ).toBe(2);
    expect(() => appWith({ metrics: { registry, appLabel: true } })).toThrow(/metrics\.appLabel/);
  });

  it('validates the option', () => {
    const registry = new Registry();
    const fails = (metrics: unknown) => {
      try {
        appWith({ metrics } as Options);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).message;
      }
      throw new Error('accepted');
    };
    expect(fails(registry)).toMatch(/^metrics\.registry: must be a prom-client Registry/);
    expect(fails({})).toMatch(/^metrics\.registry: must be a prom-client Registry/);
    expect(fails({ registry, appLabel: 'yes' })).toBe('metrics.appLabel: must be true or false');
    expect(fails({ registry, app: true })).toBe('metrics.app: is not a known option');
    expect(fails('prometheus')).toBe('metrics: must be { registry, appLabel? }');
    const taken = new Registry();
    taken.registerMetric({ name: 'im_rate_limit_degraded', get: async () => ({}) } as never);
    expect(fails({ registry: taken })).toMatch(
      /^metrics\.registry: already holds a metric named im_rate_limit_degraded/,
    );
  });

  describe('store failures', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /** A store that fails on demand: throws a StoreError, throws anything, or never answers. */
    class FlakyStore implements Store {
      fault: 'reply' | 'throw' | 'hang' | undefined;
      private readonly inner = new MemoryStore();
      take(checks: Parameters<Store['take']>[0]) {
        if (this.fault === 'reply') throw new StoreError('ERR_STORE_REPLY', 'a reply it should not have');
        if (this.fault === 'throw') throw new Error('boom');
        if (this.fault === 'hang') return new Promise<never>(() => {});
        return this.inner.take(checks);
      }
    }

    it('exports each code at 0 from start-up, before any request or failure', async () => {
      const registry = new Registry();
      appWith({ store: new FlakyStore(), metrics: { registry } });
      expect(await series(registry, 'im_rate_limit_store_failures_total')).toEqual({
        'code=ERR_STORE': 0,
        'code=ERR_STORE_TIMEOUT': 0,
        'code=ERR_STORE_REPLICAS': 0,
        'code=ERR_STORE_REPLY': 0,
      });
      expect(await registry.metrics()).toContain('im_rate_limit_store_failures_total{code="ERR_STORE_TIMEOUT"} 0\n');
    });

    it('counts each failure by code, and the gauge reads 1 while degraded, 0 once the store answers again', async () => {
      vi.useFakeTimers({ toFake: ['performance'] }); // the probe interval is measured on the monotonic clock
      const registry = new Registry();
      const store = new FlakyStore();
      const { app } = appWith({ store, metrics: { registry }, storeTimeoutMs: 5, logger: { warn() {} } });
      const get = () => request(app).get('/acme/chat/chatgroups').expect(200);
      const failures = () => series(registry, 'im_rate_limit_store_failures_total');
      const degraded = async () => (await series(registry, 'im_rate_limit_degraded'))[''];

      await get();
      expect(await degraded()).toBe(0);
      for (const [fault, code] of [
        ['reply', 'ERR_STORE_REPLY'],
        ['throw', 'ERR_STORE'],
        ['hang', 'ERR_STORE_TIMEOUT'],
      ] as const) {
        store.fault = fault;
        vi.advanceTimersByTime(1001); // the next call probes the store
        await get();
        await get(); // straight to the fallback: not a store call, not a failure
        expect((await failures())[`code=${code}`]).toBe(1);
        expect(await degraded()).toBe(1);
      }
      store.fault = undefined;
      vi.advanceTimersByTime(1001);
      await get();
      expect(await degraded()).toBe(0);
      expect(await failures()).toEqual({
        'code=ERR_STORE_REPLY': 1,
        'code=ERR_STORE': 1,
        'code=ERR_STORE_TIMEOUT': 1,
        'code=ERR_STORE_REPLICAS': 0,
      });
      const requests = await series(registry, 'im_rate_limit_requests_total');
      expect(requests['category=groups,edition=community,outcome=admitted,reason=']).toBe(8);
      // only the two calls the store itself answered are timed; the fallback's are not
      const durations = await series(registry, 'im_rate_limit_store_duration_seconds');
      expect(durations['_count{store=FlakyStore}']).toBe(2);
    });
  });
});
