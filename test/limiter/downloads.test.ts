import type { Server } from 'node:http';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { imRateLimit } from '../../src/index.js';
import { serving } from '../helpers.js';
import { expressVersions } from '../support/express.js';
import { bothStores } from '../support/stores.js';

const stores = bothStores();

describe.each(expressVersions)('$name', ({ express }) => {
  describe.each(stores)('cluster-wide downloads on %s', (_, setup) => {
    it('admit 300 across two apps and two limiter processes, refuse the 301st, and give the app its token back', async () => {
      const { store, twin, clock, app } = setup();
      const apps = [`acme#${app}-1`, `acme#${app}-2`];
      // the apps' own files buckets hold 1000, so only the cluster-wide bucket can refuse
      const overrides = Object.fromEntries(apps.map((key) => [key, { files: { ratePerSecond: 1, burst: 1000 } }]));
      const servers = await Promise.all(
        [store, twin].map((own) =>
          serving(
            // a prefix of its own: Redis keeps the cluster-wide bucket of the other tests, at the same fake time
            express().use(
              imRateLimit({ store: own, overrides, keyPrefix: `t-${app}`, storeTimeoutMs: 10_000 }),
              (_req, res) => {
                res.end('file bytes');
              },
            ),
          ),
        ),
      );
      const download = (server: number, appIndex: number) =>
        request(servers[server] as Server).get(
          `/acme/${app}-${appIndex + 1}/chatfiles/8f7c6b2a-1d2e-11ee-9c5b-0242ac120002`,
        );
      let admitted = 0;
      for (let i = 0; i < 300; i++) if ((await download(i % 2, Math.floor(i / 150))).status === 200) admitted++;
      expect(admitted).toBe(300);

      const refused = await download(1, 0);
      expect(refused.status).toBe(429);
      expect(refused.body.error).toBe('reach_limit');
      expect(refused.headers['retry-after']).toBe('1');
      // app 1 took 150 of its 1000: the refused download left its bucket as it was
      expect(refused.headers.ratelimit).toBe('"files";r=850;t=150');
      const upload = await request(servers[0] as Server).post(`/acme/${app}-1/chatfiles`);
      expect(upload.headers.ratelimit).toBe('"files";r=849;t=151');

      clock.advance(1000 / 300); // one download's worth of the cluster-wide bucket
      expect((await download(0, 1)).status).toBe(200);
      expect((await download(1, 0)).status).toBe(429);
    });
  });

  describe.each(stores)('downloads the IM server refuses, on %s', (_, setup) => {
    it('give their cluster-wide token back, and only that: 300 invented apps answered 404 leave the real app its 300', async () => {
      const { store, app } = setup();
      const ghost = `${app}-ghost`;
      const overrides = {
        [`acme#${app}`]: { files: { ratePerSecond: 1, burst: 1000 } }, // only the cluster-wide bucket can refuse
        [`acme#${ghost}-0`]: { files: { ratePerSecond: 1, burst: 1 } },
      };
      // a prefix of its own: Redis keeps the cluster-wide bucket of the other tests, at the same fake time
      const limiter = imRateLimit({ store, overrides, keyPrefix: `t-${app}`, storeTimeoutMs: 10_000 });
      const server = await serving(
        express().use(limiter, (req, res) => {
          res.status(req.path.includes('-ghost-') ? 404 : 200).end();
        }),
      );
      const download = (name: string) =>
        request(server).get(`/acme/${name}/chatfiles/8f7c6b2a-1d2e-11ee-9c5b-0242ac120002`);
      for (let i = 0; i < 300; i++) expect((await download(`${ghost}-${i}`)).status).toBe(404);
      // ghost 0's own bucket held one token, which its refused download still took
      expect((await download(`${ghost}-0`)).status).toBe(429);
      let admitted = 0;
      for (let i = 0; i < 300; i++) if ((await download(app)).status === 200) admitted++;
      expect(admitted).toBe(300);
      expect((await download(app)).headers['retry-after']).toBe('1'); // now the cluster-wide bucket is empty
    });

    it('void a refusal this process remembers of the cluster-wide bucket: the token given back is admitted at once', async () => {
      const { store, app } = setup();
      const ghost = `${app}-ghost`;
      let answerGhost = () => {};
      let ghostHeld = () => {};
      const held = new Promise<void>((resolve) => {
        ghostHeld = resolve;
      });
      const server = await serving(
        express().use(
          // a bucket of 2, and a prefix of its own: Redis keeps the cluster-wide bucket of the other tests
          imRateLimit({ store, clusterDownloadsPerSecond: 2, keyPrefix: `t-${app}`, storeTimeoutMs: 10_000 }),
          (req, res) => {
            if (!req.path.includes('-ghost')) {
              res.end('file bytes');
              return;
            }
            answerGhost = () => res.status(404).end(); // once the test says so
            ghostHeld();
          },
        ),
      );
      const download = (name: string) =>
        request(server).get(`/acme/${name}/chatfiles/8f7c6b2a-1d2e-11ee-9c5b-0242ac120002`);
      const ghostAnswered = download(ghost).then((response) => response.status);
      await held; // the ghost's download took a token and waits for its answer
      expect((await download(app)).status).toBe(200);
      const refused = await download(app); // the bucket is empty: remembered until its next token, half a second on
      expect([refused.status, refused.headers['retry-after']]).toEqual([429, '1']);
      expect((await download(app)).status).toBe(429); // refused in this process
      answerGhost(); // the IM server refuses the ghost's download: its token goes back
      expect(await ghostAnswered).toBe(404);
      expect((await download(app)).status).toBe(200);
      expect((await download(app)).status).toBe(429);
    });
  });
});
