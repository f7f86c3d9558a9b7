import { RedisStore } from 'im-rate-limit';
import type { Store } from 'im-rate-limit/store';
import { Cluster, Redis } from 'ioredis';
import { createDemoApp } from './app.js';

const port = Number(process.env.PORT ?? 3000);
const edition = process.env.IM_EDITION ?? 'community';
/** IM_MODE=report: refuse nothing, count and report what would have been refused. */
const mode = process.env.IM_MODE === 'report' ? 'report' : 'enforce';
const { REDIS_URL, REDIS_CLUSTER, ADMIN_TOKEN, UPLOAD_MAX_BYTES } = process.env;
/** UPLOAD_MAX_BYTES=…: the largest file an upload may carry (default 10 MiB); a larger one is answered 413. */
const uploadMaxBytes = UPLOAD_MAX_BYTES === undefined ? undefined : Number(UPLOAD_MAX_BYTES);
if (uploadMaxBytes !== undefined && !(Number.isSafeInteger(uploadMaxBytes) && uploadMaxBytes > 0)) {
  console.error(`UPLOAD_MAX_BYTES must be a positive whole number of bytes, not ${JSON.stringify(UPLOAD_MAX_BYTES)}`);
  process.exit(1);
}

/**
 * Every ioredis client needs an `error` handler, or ioredis prints a stack trace for each failed
 * reconnect; the limiter logs the outage itself, one line when Redis goes down and one when it is back.
 */
function quiet<T extends Redis | Cluster>(client: T): T {
  client.on('error', () => {});
  return client;
}

/** REDIS_CLUSTER=host:port,host:port,… or REDIS_URL=redis://… share the limits; neither keeps them in memory. */
function storeFromEnv(): { store?: Store; backend: string } {
  if (REDIS_CLUSTER) {
    const nodes = REDIS_CLUSTER.split(',').map((node) => {
      const [host = '127.0.0.1', nodePort = '6379'] = node.trim().split(':');
      return { host, port: Number(nodePort) };
    });
    return { store: new RedisStore({ client: quiet(new Cluster(nodes)) }), backend: `Redis Cluster ${REDIS_CLUSTER}` };
  }
  if (REDIS_URL)
    return { store: new RedisStore({ client: quiet(new Redis(REDIS_URL)) }), backend: `Redis ${REDIS_URL}` };
  return { backend: 'in-memory store' };
}

const { store, backend } = storeFromEnv();
// ADMIN_TOKEN mounts the admin endpoints at /admin, behind that bearer token; unset, there are none
const { app } = createDemoApp(store === undefined ? { edition, mode } : { edition, mode, store }, {
  adminToken: ADMIN_TOKEN,
  uploadMaxBytes,
});
const server = app.listen(port, '127.0.0.1', () => {
  console.log(
    `im-rate-limit demo IM server on http://127.0.0.1:${port} (edition ${edition}, ${mode} mode, ${backend}); ` +
      `metrics on http://127.0.0.1:${port}/metrics`,
  );
});
// a request (an upload) must arrive whole within 30 s: a stalled one holds its buffered bytes no longer
server.requestTimeout = 30_000;
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop).on('SIGTERM', stop);
