// What bench/growth.mjs and bench/decision-cost.mjs drive: the middleware under figures that admit every
// request and keep every bucket not full, called in process with a minimal request and response.
import { defaultTable, imRateLimit } from '../dist/index.js';

/** Requests in flight at once on Redis; the in-memory store answers synchronously. */
export const CONCURRENCY = 64;

/**
 * The default table with every bucket at a rate of 1/1000 s and a burst of 1,000,000: every request
 * is admitted, and every bucket it takes from stays not full (its key lives in the store) for the
 * whole run, as an active app's does. The cluster-wide downloads bucket at 1,000,000/s and a daily
 * quota of 10^9 admit every download and send too. Only figures differ; the checks are the same.
 */
const table = Object.fromEntries(
  Object.entries(defaultTable).map(([edition, rules]) => [
    edition,
    Object.fromEntries(
      Object.entries(rules).map(([category, rule]) => [
        category,
        {
          ...rule,
          ratePerSecond: 1e-3,
          burst: 1e6,
          ...(category === 'messages' ? { dailyPushQuota: 1e9 } : {}),
        },
      ]),
    ),
  ]),
);

/** `more`: options beyond these (a run under callgrind, 50 times slower, keeps the settings read for an hour). */
export const admittingLimiter = (store, maxCachedApps, logger, more = {}) =>
  imRateLimit({
    edition: 'community',
    table,
    store,
    maxCachedApps,
    clusterDownloadsPerSecond: 1e6,
    logger,
    // a Redis call waits behind CONCURRENCY others and, with 1M plans held, behind a major GC: no
    // request may fall back to per-process buckets, or the numbers are not the store's
    storeTimeoutMs: 5_000,
    ...more,
  });

export const routes = {
  users: { label: 'plain call: GET users', method: 'GET', path: 'users' },
  send: { label: 'send, daily quota: POST messages/users', method: 'POST', path: 'messages/users' },
  download: { label: 'download, cluster-wide bucket: GET chatfiles/{uuid}', method: 'GET', path: 'chatfiles/f1' },
};
const sendBody = { to: ['alice'], type: 'txt', body: { msg: 'hello' } };

/** A request as Express hands it on: the app in the path, the body parsed (express.json() ran before). */
const requestFor = (route, app) => ({
  method: route.method,
  url: `/org${app}/app/${route.path}`,
  headers: {},
  body: route.method === 'POST' ? sendBody : undefined,
});

/**
 * The least of a response the middleware writes to: headers, `locals`, and `end`, `write`, `emit`,
 * `once` for download pacing. An admitted request's handler answers with `res.end()`, through the
 * pacing and refund wrappers the limiter puts on it.
 */
class FakeResponse {
  constructor(finish) {
    this.statusCode = 200;
    this.locals = {};
    this.finish = finish;
  }
  setHeader() {}
  getHeader() {}
  write() {
    return true;
  }
  emit() {
    return true;
  }
  once() {
    return this;
  }
  on() {
    return this;
  }
  end() {
    this.done(this.statusCode === 200 ? 'admitted' : 'refused');
    return this;
  }
  done(outcome) {
    const { finish } = this;
    this.finish = undefined;
    finish?.(outcome);
  }
}

/**
 * Runs `count` requests through `middleware`, at most `concurrency` at a time: request i names app
 * `(from + i) % apps`. Resolves to how many were admitted, refused, or failed.
 */
export function drive(middleware, route, apps, from, count, concurrency) {
  return new Promise((resolve) => {
    const tally = { admitted: 0, refused: 0, errors: 0 };
    let issued = 0;
    let finished = 0;
    let inFlight = 0;
    let pumping = false;
    const finish = (outcome) => {
      tally[outcome]++;
      inFlight--;
      finished++;
      if (finished === count) resolve(tally);
      else if (!pumping) pump();
    };
    const pump = () => {
      pumping = true;
      while (inFlight < concurrency && issued < count) {
        const res = new FakeResponse(finish);
        const req = requestFor(route, (from + issued++) % apps);
        inFlight++;
        middleware(req, res, (error) => {
          if (error !== undefined) {
            tally.firstError ??= error;
            res.done('errors');
          } else res.end();
        });
      }
      pumping = false;
    };
    pump();
  });
}
