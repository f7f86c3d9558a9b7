import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, redisBinaries } from './redis.js';

const HOST = '127.0.0.1';
/** How often the waits below ask again: they wait on gossip, elections and replication, not on a clock. */
const POLL_MS = 100;
/** The name the sentinels monitor the master under. */
export const SENTINEL_MASTER_NAME = 'im';

/** A redis-server (or sentinel) on loopback, started by one of the functions below. */
export interface HaProcess {
  readonly port: number;
  readonly pid: number;
}

export interface ClusterNode extends HaProcess {
  readonly id: string;
  /** As seen at startup; `waitForFailover` turns the replica it promotes into a master. */
  role: 'master' | 'replica';
}

/** Three masters with one replica each; a killed master's replica takes over within seconds. */
export interface ReplicatedCluster {
  readonly nodes: readonly ClusterNode[];
  /** The node a live node's `CLUSTER SLOTS` names for `key`'s slot now. */
  masterOf(key: string): Promise<ClusterNode>;
  /** SIGKILLs the node and resolves once it has exited. */
  kill(node: HaProcess): Promise<void>;
  /** Resolves with the replica promoted for a killed master's slots once every live node agrees and says `cluster_state:ok`. */
  waitForFailover(oldMaster: ClusterNode, timeoutMs?: number): Promise<ClusterNode>;
  /** SIGKILLs every process of the cluster and removes its files. */
  stop(): Promise<void>;
}

/** One master, one replica and three sentinels that promote the replica when the master dies. */
export interface SentinelSet {
  readonly master: HaProcess;
  readonly replica: HaProcess;
  readonly sentinels: readonly HaProcess[];
  /** For `new Redis({ sentinels: set.sentinelAddresses, name: SENTINEL_MASTER_NAME })`. */
  readonly sentinelAddresses: ReadonlyArray<{ host: string; port: number }>;
  /** SIGKILLs the process and resolves once it has exited. */
  kill(process: HaProcess): Promise<void>;
  /** Resolves with the new master once every live sentinel names a master other than `oldMasterPort`. */
  waitForPromotion(oldMasterPort: number, timeoutMs?: number): Promise<HaProcess>;
  /** SIGKILLs every process of the set and removes its files. */
  stop(): Promise<void>;
}

/** Starts a 3-master, 3-replica Redis Cluster and resolves once every replica is in sync and every node agrees. */
export async function startReplicatedCluster(): Promise<ReplicatedCluster> {
  const { cli } = redisBinaries();
  const group = processGroup('imrl-ha-cluster-');
  try {
    const started = await Promise.all(
      Array.from({ length: 6 }, () =>
        group.start(2, ([port, bus]) => [
          ...DATA_ARGS,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          // Short, so that a failover takes a few seconds: failure detection waits one timeout.
          '--cluster-node-timeout',
          '1000',
          // The default bus port, port + 10000, is nobody's check: above 65535 for a fifth of Linux's
          // ephemeral ports, and often held by a socket in TIME_WAIT on a busy machine.
          '--cluster-port',
          String(bus),
        ]),
      ),
    );
    await promisify(execFile)(
      cli,
      ['--cluster', 'create', ...started.map((p) => `${HOST}:${p.port}`), '--cluster-replicas', '1', '--cluster-yes'],
      { timeout: 30_000 },
    );
    await waitUntil('every master has a replica in sync and every node says cluster_state:ok', 30_000, () =>
      clusterReady(group, started),
    );
    const view = parseClusterNodes(String(await group.ask(started[0]?.port ?? 0, (c) => c.cluster('NODES'))));
    const nodes = started.map((p): ClusterNode => {
      const seen = view.find((n) => n.port === p.port);
      if (seen === undefined) throw new Error(`node ${p.port} is missing from CLUSTER NODES`);
      return { ...p, id: seen.id, role: seen.master ? 'master' : 'replica' };
    });
    const nodeAt = (port: number): ClusterNode => {
      const node = nodes.find((n) => n.port === port);
      if (node === undefined) throw new Error(`no node of this cluster listens on ${port}`);
      return node;
    };
    const slotOwner = async (port: number, slot: number): Promise<number | undefined> => {
      const ranges = await group.ask(port, (c) => c.cluster('SLOTS'));
      return ranges.find(([start, end]) => slot >= start && slot <= end)?.[2]?.[1];
    };
    const liveNodes = () => nodes.filter((n) => group.isAlive(n));
    const askLive = <T>(command: (client: Redis) => Promise<T>): Promise<T> => {
      const [node] = liveNodes();
      if (node === undefined) throw new Error('every node of the cluster is down');
      return group.ask(node.port, command);
    };
    return {
      nodes,
      async masterOf(key) {
        const slot = await askLive((c) => c.cluster('KEYSLOT', key));
        const port = await slotOwner(liveNodes()[0]?.port ?? 0, slot);
        if (port === undefined) throw new Error(`no node serves slot ${slot}`);
        return nodeAt(port);
      },
      kill: (node) => group.kill(node),
      async waitForFailover(oldMaster, timeoutMs = 30_000) {
        const slot = view.find((n) => n.id === oldMaster.id)?.slots[0];
        if (slot === undefined) throw new Error(`node ${oldMaster.port} served no slots at startup`);
        let promoted: number | undefined;
        await waitUntil(`a replica of ${oldMaster.port} serves its slots`, timeoutMs, async () => {
          promoted = undefined;
          for (const node of liveNodes()) {
            const info = await group.ask(node.port, (c) => c.cluster('INFO'));
            if (!info.includes('cluster_state:ok')) return `node ${node.port} is not cluster_state:ok`;
            const owner = await slotOwner(node.port, slot);
            if (owner === oldMaster.port) return `node ${node.port} still sends slot ${slot} to ${oldMaster.port}`;
            if (promoted !== undefined && owner !== promoted) return `nodes disagree on slot ${slot}`;
            promoted = owner;
          }
          return true;
        });
        const node = nodeAt(promoted ?? 0);
        node.role = 'master';
        return node;
      },
      stop: () => group.stop(),
    };
  } catch (error) {
    await group.stop();
    throw error;
  }
}

/** Starts a master, its replica and three sentinels, and resolves once every sentinel knows all of them. */
export async function startSentinelSet(): Promise<SentinelSet> {
  const group = processGroup('imrl-ha-sentinel-');
  try {
    const master = await group.start(1, () => DATA_ARGS);
    const replica = await group.start(1, () => [...DATA_ARGS, '--replicaof', HOST, String(master.port)]);
    // In sync before the sentinels start, so that their first INFO of the master lists it.
    await waitUntil(
      `the replica on ${replica.port} is in sync`,
      10_000,
      async () =>
        (await group.ask(replica.port, (c) => c.info('replication'))).includes('master_link_status:up') || 'link down',
    );
    const sentinels = await Promise.all(
      Array.from({ length: 3 }, () =>
        group.start(1, ([port]) => {
          // Sentinels rewrite their configuration file, so each needs its own.
          const conf = join(group.dir, `sentinel-${port}.conf`);
          writeFileSync(
            conf,
            [
              `sentinel monitor ${SENTINEL_MASTER_NAME} ${HOST} ${master.port} 2`,
              `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
              `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 3000`,
              `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
              '',
            ].join('\n'),
          );
          return [conf, '--sentinel'];
        }),
      ),
    );
    await waitUntil('every sentinel knows the master, its replica and the other sentinels', 30_000, async () => {
      for (const sentinel of sentinels) {
        const fields = await sentinelMaster(group, sentinel.port);
        if (fields['num-slaves'] !== '1' || fields['num-other-sentinels'] !== '2')
          return `sentinel ${sentinel.port} sees ${fields['num-slaves']} replicas and ${fields['num-other-sentinels']} other sentinels`;
      }
      return true;
    });
    return {
      master,
      replica,
      sentinels,
      sentinelAddresses: sentinels.map((s) => ({ host: HOST, port: s.port })),
      kill: (process) => group.kill(process),
      async waitForPromotion(oldMasterPort, timeoutMs = 30_000) {
        let named: number[] = [];
        await waitUntil(`the sentinels promote a replica of ${oldMasterPort}`, timeoutMs, async () => {
          named = await Promise.all(
            sentinels
              .filter((s) => group.isAlive(s))
              .map(async (s) => {
                const addr = await group.ask(s.port, (c) =>
                  c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER_NAME),
                );
                return Number((addr as string[])[1]);
              }),
          );
          return (
            (named.every((port) => port === named[0] && port !== oldMasterPort) && named.length > 0) ||
            `the sentinels name ${named.join(', ')}`
          );
        });
        const promoted = [master, replica].find((p) => p.port === named[0]);
        if (promoted === undefined) throw new Error(`the sentinels name ${named[0]}, not a server of this set`);
        return promoted;
      },
      stop: () => group.stop(),
    };
  } catch (error) {
    await group.stop();
    throw error;
  }
}

/** No persistence, and full syncs start at once instead of after the default 5 s wait for more replicas. */
const DATA_ARGS = ['--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'];

interface ProcessGroup {
  readonly dir: string;
  /**
   * Spawns redis-server with `args(ports)` on `ports[0]` and resolves once it answers PING. The `portCount`
   * ports are free when picked; should another process bind one first, it starts again on fresh ones.
   */
  start(portCount: number, args: (ports: readonly number[]) => readonly string[]): Promise<HaProcess>;
  /**
   * Runs `command` on this group's connection to `port`, which fails fast instead of retrying (the waits
   * retry). One connection per server: a fresh one per poll would leave hundreds of ports in TIME_WAIT,
   * which then fail the binds of servers whose ports nobody checked (the global setup's cluster bus).
   */
  ask<T>(port: number, command: (client: Redis) => Promise<T>): Promise<T>;
  isAlive(process: HaProcess): boolean;
  kill(process: HaProcess): Promise<void>;
  stop(): Promise<void>;
}

/** Processes that share a temp dir (configuration, logs) and are SIGKILLed by pid together. */
function processGroup(prefix: string): ProcessGroup {
  const { server } = redisBinaries();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const children = new Map<number, { child: ChildProcess; exited: Promise<void> }>();
  const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;
  const killAll = () => {
    for (const { child } of children.values()) if (running(child)) child.kill('SIGKILL');
  };
  // A worker that exits without running afterAll must not leave servers behind.
  process.once('exit', killAll);
  const entryOf = (p: HaProcess) => {
    const entry = children.get(p.pid);
    if (entry === undefined) throw new Error(`pid ${p.pid} was not started here`);
    return entry;
  };
  const admins = new Map<number, Redis>();
  const ask = async <T>(port: number, command: (client: Redis) => Promise<T>): Promise<T> => {
    let client = admins.get(port);
    // a client whose first connection failed (the server was still starting) is not reused: a fresh one connects
    if (client === undefined || client.status !== 'ready') {
      client?.disconnect();
      client = new Redis({
        port,
        host: HOST,
        lazyConnect: true,
        connectTimeout: 2000,
        commandTimeout: 2000,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on('error', () => {}); // the rejected command reports it
      admins.set(port, client);
      await client.connect();
    }
    return command(client);
  };
  const spawnOn = async (port: number, args: readonly string[]): Promise<HaProcess> => {
    const log = join(dir, `${port}.log`);
    const child = spawn(server, [...args, '--port', String(port), '--bind', HOST, '--dir', dir, '--logfile', log], {
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    if (child.pid === undefined) throw new Error(`could not spawn ${server}`);
    children.set(child.pid, { child, exited });
    await waitUntil(`redis-server on ${port} answers PING`, 30_000, async () => {
      if (!running(child)) {
        const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-3).join('\n') : '';
        const message = `redis-server on ${port} exited with ${child.exitCode ?? child.signalCode}:\n${tail}`;
        throw tail.includes('Address already in use') ? new PortTaken(message) : new GiveUp(message);
      }
      return (await ask(port, (c) => c.ping())) === 'PONG' || 'no PONG';
    });
    return { port, pid: child.pid };
  };
  return {
    dir,
    ask,
    async start(portCount, args) {
      for (let attempt = 1; ; attempt++) {
        const ports = await freePorts(portCount);
        try {
          return await spawnOn(ports[0] ?? 0, args(ports));
        } catch (error) {
          if (!(error instanceof PortTaken) || attempt === 3) throw error;
        }
      }
    },
    isAlive: (p) => running(entryOf(p).child),
    async kill(p) {
      const { child, exited } = entryOf(p);
      if (running(child)) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      for (const client of admins.values()) client.disconnect();
      killAll();
      await Promise.all([...children.values()].map(({ exited }) => exited));
      process.off('exit', killAll);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Thrown by a wait's check to end the wait at once: asking again cannot help. */
class GiveUp extends Error {}
/** A server lost the race for a port that `freePort` found free. */
class PortTaken extends GiveUp {}

/** Polls `check` until it returns true; a string or an error says why not yet and ends up in the timeout's message. */
async function waitUntil(what: string, timeoutMs: number, check: () => Promise<true | string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let why: string;
    try {
      const answer = await check();
      if (answer === true) return;
      why = answer;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      why = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting until ${what}: ${why}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

interface NodeView {
  readonly id: string;
  readonly port: number;
  readonly master: boolean;
  /** The master's id for a replica. */
  readonly replicaOf: string | undefined;
  readonly flags: readonly string[];
  /** The first slot of each of a master's ranges. */
  readonly slots: readonly number[];
}

/** `CLUSTER NODES`: `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`. */
function parseClusterNodes(text: string): NodeView[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', address = '', flags = '', master = '', , , , , ...slots] = line.split(' ');
      const flagList = flags.split(',');
      return {
        id,
        port: Number(address.split('@')[0]?.split(':').at(-1)),
        master: flagList.includes('master'),
        replicaOf: master === '-' ? undefined : master,
        flags: flagList,
        slots: slots.filter((s) => !s.startsWith('[')).map((s) => Number.parseInt(s, 10)),
      };
    });
}

async function clusterReady(group: ProcessGroup, started: readonly HaProcess[]): Promise<true | string> {
  for (const { port } of started) {
    if (!(await group.ask(port, (c) => c.cluster('INFO'))).includes('cluster_state:ok'))
      return `node ${port} is not cluster_state:ok`;
    const nodes = String(await group.ask(port, (c) => c.cluster('NODES')));
    const view = parseClusterNodes(nodes);
    const troubled = view.find((n) => n.flags.some((f) => ['fail', 'fail?', 'handshake', 'noaddr'].includes(f)));
    if (troubled !== undefined) return `node ${port} sees ${troubled.port} as ${troubled.flags.join(',')}`;
    const masters = view.filter((n) => n.master && n.slots.length > 0);
    const replicas = masters.map((m) => view.filter((n) => n.replicaOf === m.id).length);
    if (masters.length !== 3 || replicas.some((count) => count !== 1))
      return `node ${port} sees masters with ${replicas.join(', ')} replicas in\n${nodes}`;
    const self = view.find((n) => n.flags.includes('myself'));
    if (
      self?.replicaOf !== undefined &&
      !(await group.ask(port, (c) => c.info('replication'))).includes('master_link_status:up')
    )
      return `replica ${port} is not in sync`;
  }
  return true;
}

async function sentinelMaster(group: ProcessGroup, port: number): Promise<Record<string, string>> {
  const flat = (await group.ask(port, (c) => c.call('SENTINEL', 'MASTER', SENTINEL_MASTER_NAME))) as string[];
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
}
