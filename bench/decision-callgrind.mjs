// Instructions of this process per decision through the whole middleware (bench/decision-cost.mjs),
// counted by callgrind over the measured requests only (instrumentation on after the warm-up, dumped
// at their end), split into garbage collection, V8's compilers (both vary from run to run with
// which collections and compilations fall in the window) and the rest, the requests' own work.
// Kernel time (the system calls) is not counted: decision-cost.mjs prints it.
//   npm run build && node bench/decision-callgrind.mjs [decision-cost.mjs options, e.g. --store redis --requests 4000]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const options = process.argv.slice(2);
const at = options.indexOf('--requests');
const requests = at === -1 ? 20_000 : Number(options[at + 1]);
const dir = mkdtempSync(join(tmpdir(), 'decision-callgrind-'));
const child = spawn(
  'valgrind',
  [
    '--tool=callgrind',
    '--instr-atstart=no',
    `--callgrind-out-file=${join(dir, 'out')}`,
    `--log-file=${join(dir, 'valgrind.log')}`,
    process.execPath,
    '--single-threaded', // V8's compilers and collector on the one thread measured, none in the background
    new URL('./decision-cost.mjs', import.meta.url).pathname,
    '--warm-up',
    '10000',
    ...options,
  ],
  { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
);
const control = (...flags) => execFileSync('callgrind_control', [...flags, String(child.pid)], { stdio: 'ignore' });
child.on('message', (message) => {
  if (message === 'start') {
    control('--instr=on');
    control('--zero');
  } else control('--dump');
  child.send('go');
});
const exitCode = await new Promise((resolve) => child.once('exit', resolve));
if (exitCode !== 0) throw new Error(`decision-cost.mjs under valgrind exited with ${exitCode}`);

const GC =
  /Scaveng|Marking|Sweep|MarkCompact|Evacuat|IterateMaybeWeakPointers|IteratePointers|MemoryChunk|Heap::|heap::|RememberedSet|SlotSet|MinorGC|GCTracer|WeakObjects|PagedSpace|SemiSpace|NewSpace|BodyDescriptorBase|RelocIterator|Visitor|LocalHeap|FreeList|Page::|ObjectStats|CompactionSpace/;
const COMPILER =
  /compiler::|Maglev|maglev|turboshaft|Compiler::|Zone::|interpreter::|BytecodeGenerator|Parser|Scanner|AstNode|parsing::|RegisterAllocat|InstructionSelector|CodeGenerator|Assembler/;
const dump = readdirSync(dir).find((file) => file.startsWith('out.'));
const table = execFileSync('callgrind_annotate', ['--threshold=100', join(dir, dump)], {
  maxBuffer: 1 << 28,
}).toString();
const split = { rest: 0, gc: 0, compiler: 0 };
for (const [, count, name] of table.matchAll(/^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$/gm)) {
  if (name.includes('PROGRAM TOTALS')) continue;
  split[GC.test(name) ? 'gc' : COMPILER.test(name) ? 'compiler' : 'rest'] += Number(count.replaceAll(',', ''));
}
const per = (n) => Math.round(n / requests).toLocaleString('en-US');
console.log(
  `instructions per decision: ${per(split.rest)} the requests' own, ${per(split.gc)} garbage collection, ` +
    `${per(split.compiler)} compilers`,
);
rmSync(dir, { recursive: true, force: true });
