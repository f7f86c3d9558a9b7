import { type Logger, logWarning } from '../log.js';
import type { RedisClient } from './lua-script.js';

/**
 * What the check asks of an ioredis `Redis` or `Cluster`, looked for at run time: `RedisClient`
 * names only what the scripts need, and a client without these is simply not checked.
 */
interface Inspectable {
  readonly status?: string;
  readonly options?: { readonly host?: string; readonly port?: number };
  once?(event: 'ready', listener: () => void): unknown;
  call?(command: string, ...args: string[]): Promise<unknown>;
  nodes?(role: 'master'): Inspectable[];
}

/** What each policy may delete when Redis is full, and what that costs the limits. */
const LOSSES = {
  allkeys:
    "any key: buckets (a burst admitted again), daily windows (a day's quota granted again), " +
    'memberships (a user joins past the cap) and run-time settings (an app back on its configured edition)',
  volatile: "keys with a TTL: buckets (a burst admitted again) and daily windows (a day's quota granted again)",
} as const;

const ADVICE =
  'Set maxmemory-policy noeviction: a full Redis then refuses writes, which onStoreError handles, ' +
  'and no count is lost (docs/redis.md → maxmemory-policy noeviction)';

/**
 * Reads `maxmemory-policy` on the server (each master of a Cluster) once the client is ready, and
 * warns when Redis may evict the limiter's keys under memory pressure: an evicted key forgets a count,
 * which lifts a limit silently. Where `CONFIG` is refused (managed Redis often renames it) it says it
 * could not check. Never throws; the promise never rejects.
 */
export function checkEviction(client: RedisClient, logger: Logger): Promise<void> {
  const redis = client as RedisClient & Inspectable;
  if (typeof redis.call !== 'function' || typeof redis.once !== 'function') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const check = (): void => {
      inspect(redis, logger).then(resolve, resolve);
    };
    if (redis.status === 'ready') check();
    else redis.once?.('ready', check);
  });
}

async function inspect(redis: RedisClient & Inspectable, logger: Logger): Promise<void> {
  const nodes = redis.isCluster === true ? (redis.nodes?.('master') ?? []) : [redis];
  const answers = await Promise.all(nodes.map(async (node) => ({ node: nameOf(node), ...(await policyOf(node)) })));
  const byPolicy = new Map<string, string[]>();
  const unchecked: Array<{ node: string; why: string | undefined }> = [];
  for (const { node, policy, why } of answers) {
    if (policy === undefined) unchecked.push({ node, why });
    else if (policy.startsWith('allkeys-') || policy.startsWith('volatile-'))
      byPolicy.set(policy, [...(byPolicy.get(policy) ?? []), node]);
  }
  for (const [policy, names] of byPolicy) {
    const losses = LOSSES[policy.startsWith('allkeys-') ? 'allkeys' : 'volatile'];
    logWarning(
      logger,
      'WRN_REDIS_EVICTION',
      `Redis ${names.join(', ')} runs maxmemory-policy ${policy}, which evicts ${losses} once it reaches ` +
        `maxmemory. ${ADVICE}`,
      { nodes: names, policy },
    );
  }
  if (unchecked.length > 0)
    logWarning(
      logger,
      'WRN_REDIS_EVICTION_UNCHECKED',
      `could not read maxmemory-policy on Redis ${unchecked.map(({ node, why }) => `${node} (${why})`).join(', ')}: ` +
        "make sure it is noeviction, or the limiter's keys may be evicted and their counts forgotten " +
        '(docs/redis.md → maxmemory-policy noeviction)',
      { nodes: unchecked.map(({ node }) => node) },
    );
}

async function policyOf(node: Inspectable): Promise<{ policy?: string; why?: string }> {
  try {
    const reply = await node.call?.('CONFIG', 'GET', 'maxmemory-policy');
    const policy = Array.isArray(reply) ? reply[1] : undefined;
    return typeof policy === 'string' ? { policy } : { why: `CONFIG GET answered ${JSON.stringify(reply)}` };
  } catch (error) {
    return { why: error instanceof Error ? error.message : String(error) };
  }
}

function nameOf(node: Inspectable): string {
  return `${node.options?.host ?? 'localhost'}:${node.options?.port ?? 6379}`;
}
