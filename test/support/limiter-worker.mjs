// One server process of a multi-process deployment: the built package on a shared Redis or Cluster.
import express from 'express';
import { imRateLimit, RedisStore } from 'im-rate-limit';
import { Cluster, Redis } from 'ioredis';

const clusterPorts = process.env.CLUSTER_PORTS;
const client = clusterPorts
  ? new Cluster(clusterPorts.split(',').map((port) => ({ host: '127.0.0.1', port: Number(port) })))
  : new Redis({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT) });
const limiter = imRateLimit({
  store: new RedisStore({ client }),
  overrides: JSON.parse(process.env.OVERRIDES ?? '{}'),
  storeTimeoutMs: Number(process.env.STORE_TIMEOUT_MS ?? 50),
});
const app = express().use(limiter, (_req, res) => {
  res.json({ ok: true });
});
const server = app.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('disconnect', () => {
  server.close();
  client.disconnect();
});
