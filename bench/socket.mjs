// What a benchmark server (bench/server.mjs, admitted) does per request over a real socket, counted
// rather than timed, so that a busy machine does not move it; keep-alive requests at -c 50:
//   callgrind  instructions of the whole process, every thread, split into the requests' own work,
//              garbage collection and the compilers (the last two vary with which collections and
//              compilations fall in a window). Each server is warmed up uninstrumented first: from a
//              cold start the optimising compiler is a fifth of the count. Two windows of the same
//              size, one after the other: their spread is the noise.
//   strace     system calls by name (strace -c -f): a run of the warm-up alone is taken off a run of
//              warm-up + window.
//   gc         bytes allocated (the heap's growth between collections, node --trace-gc), scavenges and
//              mark-compacts per request.
// Usage: npm run build && node bench/socket.mjs <callgrind|strace|gc> [variant,...] [warm-up,window]
// BENCH_IMRL_OPTIONS: more options for im-rate-limit, as JSON (as bench/server.mjs takes them).
// BENCH_SOCKET_SIM=1: callgrind simulates caches and branch prediction too (misses per request).
// BENCH_SOCKET_KEEP=<dir>: keeps each run's raw output there (callgrind_annotate, strace's table),
// with node's JIT map (--perf-basic-prof) to name JIT code in callgrind's output.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { CONNECTIONS, startRedis } from './lib.mjs';

const [tool = 'callgrind', variantList, amountList] = process.argv.slice(2);
const variants = variantList?.split(',') ?? [
  'express',
  'im-rate-limit memory',
  'im-rate-limit redis',
  'rate-limiter-flexible memory',
  'rate-limiter-flexible redis',
];
const defaults = { callgrind: '20000,3000', strace: '20000,20000', gc: '20000,100000' };
const [warmUp, window] = (amountList ?? defaults[tool]).split(',').map(Number);
const keep = process.env.BENCH_SOCKET_KEEP;
const server = new URL('./server.mjs', import.meta.url).pathname;
// under valgrind a round trip takes far longer than the default 50 ms: no call may time out
const extra = JSON.parse(process.env.BENCH_IMRL_OPTIONS ?? '{}');
const env = {
  ...process.env,
  BENCH_IMRL_OPTIONS: JSON.stringify({ storeTimeoutMs: 600_000, ...extra }),
  BENCH_KEEP_ALIVE_MS: '600000',
};

const wrappers = {
  callgrind: (out) => [
    'valgrind',
    '--tool=callgrind',
    '--instr-atstart=no',
    `--callgrind-out-file=${out}`,
    // BENCH_SOCKET_SIM=1: simulated caches and branch predictors too (misses per request, slower)
    ...(process.env.BENCH_SOCKET_SIM ? ['--cache-sim=yes', '--branch-sim=yes'] : []),
  ],
  strace: (out) => ['strace', '-f', '-c', '-o', out],
  gc: () => [],
};

/** `amount` requests, all answered 200 (a warm-up may lose some to a connection reset: `lenient`). */
const load = async (port, amount, variant, lenient = false) => {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/acme/chat/users`,
    connections: CONNECTIONS,
    amount,
    timeout: 600,
  });
  if (!lenient && (result.non2xx !== 0 || result.errors !== 0 || result.timeouts !== 0)) {
    throw new Error(`${variant}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
};

/**
 * The instructions of one callgrind dump, by V8's functions' names: garbage collection, the compilers
 * (both vary from window to window by which collections and compilations fall in it), and the rest,
 * the work of the requests themselves (steady to about 1 %).
 */
const GC =
  /Scaveng|Marking|Sweep|MarkCompact|Evacuat|IterateMaybeWeakPointers|IteratePointers|MemoryChunk|Heap::|heap::|RememberedSet|SlotSet|MinorGC|GCTracer|WeakObjects|PagedSpace|SemiSpace|NewSpace|BodyDescriptorBase|RelocIterator|Visitor|LocalHeap|FreeList|Page::|ObjectStats|CompactionSpace/;
const COMPILER =
  /compiler::|Maglev|maglev|turboshaft|Compiler::|Zone::|interpreter::|BytecodeGenerator|Parser|Scanner|AstNode|parsing::|RegisterAllocat|InstructionSelector|CodeGenerator|Assembler/;
function instructionsOf(file) {
  const table = execFileSync('callgrind_annotate', ['--threshold=100', '--show=Ir', file], {
    maxBuffer: 1 << 28,
  }).toString();
  const split = { rest: 0, gc: 0, compiler: 0 };
  // with BENCH_SOCKET_SIM, every event of the whole dump (cache and branch misses) besides
  const text = readFileSync(file, 'utf8');
  const events = text.match(/^events: (.*)$/m)?.[1].split(' ') ?? [];
  const summary =
    text
      .match(/^summary: (.*)$/m)?.[1]
      .split(' ')
      .map(Number) ?? [];
  if (events.length > 1) split.events = Object.fromEntries(events.map((name, i) => [name, summary[i]]));
  for (const [, count, name] of table.matchAll(/^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$/gm)) {
    if (name.includes('PROGRAM TOTALS')) continue;
    split[GC.test(name) ? 'gc' : COMPILER.test(name) ? 'compiler' : 'rest'] += Number(count.replaceAll(',', ''));
  }
  return split;
}

/** Per request: instructions in each window (callgrind), or system calls by name (strace). */
async function countsOf(variant, redisPort, extra = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'socket-bench-'));
  const out = join(dir, 'out');
  const [command = process.execPath, ...args] = wrappers[tool](out);
  const nodeArgs = tool === 'gc' ? ['--trace-gc'] : keep && tool === 'callgrind' ? ['--perf-basic-prof'] : [];
  if (command !== process.execPath) args.push(process.execPath);
  const child = spawn(command, [...args, ...nodeArgs, server, variant, 'admitted', String(redisPort)], {
    stdio: ['ignore', tool === 'gc' ? 'pipe' : 'inherit', 'inherit', 'ipc'],
    env,
    cwd: dir, // where --perf-basic-prof's V8 log goes
  });
  let trace = '';
  child.stdout?.on('data', (chunk) => {
    trace += chunk;
  });
  const port = await new Promise((resolve) => child.once('message', (m) => resolve(m.port)));
  const name = variant.replaceAll(' ', '-');
  let counts;
  if (tool === 'callgrind') {
    const control = (...flags) => execFileSync('callgrind_control', [...flags, String(child.pid)], { stdio: 'ignore' });
    await load(port, warmUp, variant, true);
    control('--instr=on');
    control('--zero');
    const windows = [];
    for (let i = 0; i < 2; i++) {
      await load(port, window, variant);
      control('--dump');
    }
    const dumps = readdirSync(dir)
      .filter((file) => file.startsWith('out.'))
      .sort((a, b) => Number(a.split('.').at(-1)) - Number(b.split('.').at(-1)));
    for (const dump of dumps.slice(-2)) {
      const split = instructionsOf(join(dir, dump));
      windows.push({ rest: split.rest / window, gc: split.gc / window, compiler: split.compiler / window });
      if (split.events) {
        windows.at(-1).events = Object.fromEntries(
          Object.entries(split.events).map(([name, count]) => [name, Math.round(count / window)]),
        );
      }
      if (keep) copyFileSync(join(dir, dump), join(keep, `callgrind.${name}.${windows.length}`));
    }
    counts = { windows };
  }
  if (tool === 'gc') {
    await load(port, warmUp, variant);
    const from = trace.length;
    await load(port, window, variant);
    counts = collections(trace, from);
  }
  if (tool === 'strace') {
    // strace counts from the start: a run of the warm-up alone is taken off a run of warm-up + window
    await load(port, warmUp, variant);
    if (extra > 0) await load(port, extra, variant);
  }
  child.disconnect();
  await new Promise((resolve) => child.once('exit', resolve));
  if (keep && tool === 'callgrind' && existsSync(`/tmp/perf-${child.pid}.map`)) {
    copyFileSync(`/tmp/perf-${child.pid}.map`, join(keep, `perf.${name}`));
    rmSync(`/tmp/perf-${child.pid}.map`);
  }
  if (tool === 'strace') {
    const text = readFileSync(out, 'utf8');
    if (keep) copyFileSync(out, join(keep, `strace.${name}.${warmUp}`));
    counts = {};
    for (const [, calls, syscall] of text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/gm)) {
      if (syscall !== 'total') counts[syscall] = Number(calls);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return counts;
}

/**
 * The collections in `trace` (node --trace-gc) from `from` on, and the bytes allocated meanwhile: the
 * heap's growth from one collection's end to the next one's start, summed.
 */
function collections(trace, from) {
  const lines = [...trace.matchAll(/ms: (Scavenge|Mark-Compact)[^\d]*([\d.]+) \([\d.]+\) -> ([\d.]+) /g)];
  const counts = { scavenges: 0, markCompacts: 0, allocatedMB: 0 };
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].index < from) continue;
    counts[lines[i][1] === 'Scavenge' ? 'scavenges' : 'markCompacts']++;
    counts.allocatedMB += Number(lines[i][2]) - Number(lines[i - 1][3]);
  }
  return counts;
}

const redis = await startRedis();
const rows = [];
try {
  for (const variant of variants) {
    if (tool === 'gc') {
      const counts = await countsOf(variant, redis.port);
      rows.push({ variant, counts });
      console.error(variant, JSON.stringify(counts));
    } else if (tool === 'callgrind') {
      const { windows } = await countsOf(variant, redis.port);
      rows.push({ variant, windows });
      console.error(variant, JSON.stringify(windows));
    } else {
      // the difference of two runs, warm-up only and warm-up + window, cancels start-up and warm-up
      const before = await countsOf(variant, redis.port);
      const whole = await countsOf(variant, redis.port, window);
      const perRequest = {};
      for (const name of new Set([...Object.keys(before), ...Object.keys(whole)])) {
        perRequest[name] = ((whole[name] ?? 0) - (before[name] ?? 0)) / window;
      }
      rows.push({ variant, perRequest });
      console.error(variant, JSON.stringify(perRequest));
    }
  }
} finally {
  redis.stop();
}

if (tool === 'gc') {
  console.log(`\n### Garbage per request (node --trace-gc; ${window} requests after ${warmUp}; -c ${CONNECTIONS})\n`);
  console.log('| server | bytes allocated/req | scavenges per 10k req | mark-compacts per 10k req |');
  console.log('|---|---:|---:|---:|');
  for (const { variant, counts } of rows) {
    const per10k = (count) => ((count / window) * 10_000).toFixed(1);
    console.log(
      `| ${variant} | ${Math.round((counts.allocatedMB * 1024 * 1024) / window)} | ${per10k(counts.scavenges)} | ${per10k(counts.markCompacts)} |`,
    );
  }
} else if (tool === 'callgrind') {
  console.log(
    `\n### Instructions per request (callgrind; ${warmUp} requests to warm up, then two windows of ${window}; -c ${CONNECTIONS})\n`,
  );
  const mean = (windows, part) => (windows[0][part] + windows[1][part]) / 2;
  const base = rows.find((r) => r.variant === 'express');
  const n = (x) => Math.round(x).toLocaleString('en');
  console.log(
    "| server | requests' own, window 1 | window 2 | over bare Express | GC, window 1 | window 2 | compilers, window 1 | window 2 |",
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const { variant, windows } of rows) {
    const over = base === undefined ? '' : n(mean(windows, 'rest') - mean(base.windows, 'rest'));
    const [a, b] = windows;
    console.log(
      `| ${variant} | ${n(a.rest)} | ${n(b.rest)} | ${over} | ${n(a.gc)} | ${n(b.gc)} | ${n(a.compiler)} | ${n(b.compiler)} |`,
    );
  }
  const events = Object.keys(rows[0]?.windows[0].events ?? {});
  if (events.length > 0) {
    console.log('\nSimulated, whole process, per request (mean of the two windows):\n');
    console.log(`| server | ${events.join(' | ')} |`);
    console.log(`|---|${events.map(() => '---:').join('|')}|`);
    for (const { variant, windows } of rows) {
      const perEvent = events.map((event) => n((windows[0].events[event] + windows[1].events[event]) / 2));
      console.log(`| ${variant} | ${perEvent.join(' | ')} |`);
    }
  }
} else {
  console.log(`\n### System calls per request (strace -c -f; ${window} requests after ${warmUp}; -c ${CONNECTIONS})\n`);
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.perRequest)))]
    .filter((name) => rows.some((r) => Math.abs(r.perRequest[name]) >= 0.01))
    .sort();
  console.log(`| server | total | ${names.join(' | ')} |`);
  console.log(`|---|---:|${names.map(() => '---:').join('|')}|`);
  for (const { variant, perRequest } of rows) {
    const total = names.reduce((sum, name) => sum + (perRequest[name] ?? 0), 0);
    console.log(
      `| ${variant} | ${total.toFixed(2)} | ${names.map((name) => (perRequest[name] ?? 0).toFixed(2)).join(' | ')} |`,
    );
  }
}
