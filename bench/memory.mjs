// Heap held by MemoryStore per idle key (1,000,000 apps), and proof that idle keys are dropped.
// Run with --expose-gc (npm run bench does).
import { MemoryStore } from 'im-rate-limit';

if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const KEYS = 1_000_000;
let now = Date.UTC(2026, 10, 28);
const store = new MemoryStore({ clock: () => now, sweepIntervalMs: 10_000 });
const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const before = heap();
for (let i = 0; i < KEYS; i++) {
  // the keys the limiter builds for 1M apps' messages buckets (community: 10 per second)
  store.take([{ type: 'bucket', key: `imrl:{org${i}#chat}:messages:rate`, capacity: 10, intervalMs: 100, cost: 1 }]);
}
const held = heap() - before;
const size = store.size;

now += 10_000; // every bucket refilled 100 ms after its take; the next take is due to sweep
store.take([{ type: 'bucket', key: 'imrl:{fresh#app}:messages:rate', capacity: 10, intervalMs: 100, cost: 1 }]);
const after = heap() - before;

console.log('\n### MemoryStore memory\n');
console.log('| measure | value |');
console.log('|---|---:|');
console.log(`| keys held after 1,000,000 distinct apps took once | ${size.toLocaleString('en-US')} |`);
console.log(`| heap held for them (includes the key strings) | ${(held / 1024 / 1024).toFixed(1)} MiB |`);
console.log(`| bytes per idle key | ${(held / KEYS).toFixed(0)} |`);
console.log(`| keys held after their refill time and one more take | ${store.size.toLocaleString('en-US')} |`);
console.log(`| heap held then | ${(after / 1024).toFixed(0)} KiB |`);
