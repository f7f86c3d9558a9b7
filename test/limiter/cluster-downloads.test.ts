import type { Server } from 'node:http';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { ConfigError, imRateLimit, type Options } from '../../src/index.js';
import { defaultTable } from '../../src/limits/table.js';
import { serving } from '../helpers.js';
import { bothStores } from '../support/stores.js';

const uuid = '8f7c6b2a-1d2e-11ee-9c5b-0242ac120002';

describe.each(bothStores())('the cluster-wide downloads bucket has one figure for every app (%s)', (_, setup) => {
  /**
   * Three apps on two editions: one on enterprise, two on community, one of which bought 3,000
   * files calls a second. Every app's own files bucket holds 1,000 or more, so only the
   * cluster-wide bucket can refuse.
   */
  const serve = async (options: Options = {}) => {
    const { store, twin, clock, app } = setup();
    const apps = [`${app}-ent`, `${app}-big`, `${app}-small`];
    const overrides = {
      [`acme#${app}-ent`]: { files: { ratePerSecond: 30, burst: 1000 } },
      [`acme#${app}-big`]: { files: { ratePerSecond: 3000 } },
      [`acme#${app}-small`]: { files: { ratePerSecond: 1, burst: 1000 } },
    };
    const edition = (appKey: string) => (appKey.endsWith('-ent') ? 'enterprise' : 'community');
    // two processes on one store; a prefix of its own: Redis keeps the other tests' cluster-wide bucket.
    // A slow store call would be decided by the per-process fallback: exact counts need the store's.
    const servers = await Promise.all(
      [store, twin].map((own) =>
        serving(
          express().use(
            imRateLimit({ store: own, edition, overrides, keyPrefix: `t-${app}`, storeTimeoutMs: 10_000, ...options }),
            (_r, res) => {
              res.end('file bytes');
            },
          ),
        ),
      ),
    );
    const download = (i: number, appName: string) =>
      request(servers[i % 2] as Server).get(`/acme/${appName}/chatfiles/${uuid}`);
    /** Downloads round-robin over `names` until `total` were tried; admitted by app. */
    const round = async (names: readonly string[], total: number) => {
      const admitted = Object.fromEntries(names.map((name) => [name, 0]));
      for (let i = 0; i < total; i++) {
        const name = names[i % names.length] as string;
        const { status } = await download(i, name);
        expect([200, 429]).toContain(status);
        if (status === 200) admitted[name] = (admitted[name] as number) + 1;
      }
      return admitted;
    };
    return { clock, apps, round };
  };

  it('admits 300 a second in all to apps of different editions and overrides, in any order', async () => {
    const { clock, apps, round } = await serve({ clusterDownloadsPerSecond: 300 }); // the default, said once
    const [ent, big, small] = apps as [string, string, string];
    // together, round-robin: 100 each, the 301st to 360th refused
    expect(await round(apps, 360)).toEqual({ [ent]: 100, [big]: 100, [small]: 100 });

    // a second later, the app of 3,000/s alone: 300, not 3,000
    clock.advance(1000);
    expect(await round([big], 400)).toEqual({ [big]: 300 });
    expect(await round([small, ent], 20)).toEqual({ [small]: 0, [ent]: 0 });

    // a second later, the app of 1/s alone: 300, and it leaves the others none (not 270 each)
    clock.advance(1000);
    expect(await round([small], 400)).toEqual({ [small]: 300 });
    expect(await round([big, ent], 20)).toEqual({ [big]: 0, [ent]: 0 });

    // a third of a second refills 100, whoever asks
    clock.advance(1000 / 3);
    expect(await round([ent, big], 150)).toEqual({ [ent]: 50, [big]: 50 });
  });

  it('holds every app to the clusterDownloadsPerSecond option, set once for the cluster', async () => {
    const { clock, apps, round } = await serve({ clusterDownloadsPerSecond: 50 });
    const [ent, big, small] = apps as [string, string, string];
    expect(await round(apps, 90)).toEqual({ [ent]: 17, [big]: 17, [small]: 16 });
    clock.advance(1000);
    expect(await round([big], 90)).toEqual({ [big]: 50 });
  });
});

describe('a figure every app shares is set once, for the cluster', () => {
  const where = 'is shared by every app: set it once for the cluster, as the option clusterDownloadsPerSecond';
  const refused = (path: string) =>
    expect.objectContaining({
      name: 'ConfigError',
      code: 'ERR_INVALID_OPTION',
      path,
      message: `${path}: ${where}, not per app or per edition`,
    });

  it('refuses it in an app’s overrides, naming where it belongs', () => {
    const overrides = { 'acme#chat': { files: { ratePerSecond: 20, clusterDownloadsPerSecond: 10 } } };
    expect(() => imRateLimit({ overrides } as unknown as Options)).toThrow(ConfigError);
    expect(() => imRateLimit({ overrides } as unknown as Options)).toThrow(
      refused('overrides.acme#chat.files.clusterDownloadsPerSecond'),
    );
  });

  it('refuses it in an edition of the table', () => {
    const table = {
      community: defaultTable.community,
      pro: {
        ...defaultTable.enterprise,
        files: { ...defaultTable.enterprise?.files, clusterDownloadsPerSecond: 3000 },
      },
    };
    expect(() => imRateLimit({ table } as unknown as Options)).toThrow(
      refused('table.pro.files.clusterDownloadsPerSecond'),
    );
  });

  it('refuses it in overrides set at run time, and leaves the app as it was', async () => {
    const limiter = imRateLimit({ overrides: { 'acme#chat': { files: { ratePerSecond: 20 } } } });
    expect(() => limiter.setOverrides('acme#chat', { files: { clusterDownloadsPerSecond: 3000 } } as never)).toThrow(
      refused('setOverrides.files.clusterDownloadsPerSecond'),
    );
    expect(limiter.rules('acme#chat').files).toEqual({ ratePerSecond: 20, downloadBytesPerSecond: 512_000 });
  });

  it('takes it as an option, a positive number of downloads a second', () => {
    expect(() => imRateLimit({ clusterDownloadsPerSecond: 0 })).toThrow(
      expect.objectContaining({
        path: 'clusterDownloadsPerSecond',
        message: 'clusterDownloadsPerSecond: must be a positive number',
      }),
    );
    expect(() => imRateLimit({ clusterDownloadsPerSecond: 1000 })).not.toThrow();
  });

  it('takes clusterDownloadsShards as an option: a whole number from 1 to 1024, at most the bucket’s burst', () => {
    const invalid = (options: unknown, message: string) =>
      expect(() => imRateLimit(options as Options)).toThrow(
        expect.objectContaining({
          name: 'ConfigError',
          code: 'ERR_INVALID_OPTION',
          path: 'clusterDownloadsShards',
          message: `clusterDownloadsShards: ${message}`,
        }),
      );
    for (const shards of [0, 2.5, 1025, '3', null]) {
      invalid({ clusterDownloadsShards: shards }, 'must be a whole number from 1 to 1024');
    }
    // every shard must admit at least one: 10.5 a second is a burst of 10
    invalid(
      { clusterDownloadsPerSecond: 10.5, clusterDownloadsShards: 11 },
      "must be at most 10, the cluster-wide bucket's burst (clusterDownloadsPerSecond rounded down), so that every shard admits at least one download (got 11)",
    );
    invalid(
      { clusterDownloadsShards: 301 },
      "must be at most 300, the cluster-wide bucket's burst (clusterDownloadsPerSecond rounded down), so that every shard admits at least one download (got 301)",
    );
    expect(() => imRateLimit({ clusterDownloadsPerSecond: 10.5, clusterDownloadsShards: 10 })).not.toThrow();
    expect(() => imRateLimit({ clusterDownloadsShards: 1024, clusterDownloadsPerSecond: 1024 })).not.toThrow();
    const overrides = { 'acme#chat': { files: { clusterDownloadsShards: 3 } } };
    expect(() => imRateLimit({ overrides } as unknown as Options)).toThrow(
      expect.objectContaining({
        path: 'overrides.acme#chat.files.clusterDownloadsShards',
        message:
          'overrides.acme#chat.files.clusterDownloadsShards: is shared by every app: set it once for the cluster, as the option clusterDownloadsShards, not per app or per edition',
      }),
    );
  });
});
