// A CommonJS TypeScript consumer: `module: nodenext` in a CommonJS package compiles `import` to require(),
// which loads the package (ESM) on Node >= 20.19 and 22.13; TypeScript 5.8 or later, 7 included. A bundled
// app type-checks the same source with `moduleResolution: bundler` (tsconfig.bundler.json).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { type ImRateLimit, imRateLimit, MemoryStore } from 'im-rate-limit';

async function main(): Promise<void> {
  const now = Date.now(); // a clock that stands still: no token refills during the burst, however slow the machine
  const limiter: ImRateLimit = imRateLimit({ edition: 'community', store: new MemoryStore({ clock: () => now }) });
  const app = express();
  app.use(limiter);
  app.get('/:org/:app/users', (_req, res) => {
    res.json({ entities: [] });
  });

  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const responses = await Promise.all(
    Array.from({ length: 11 }, () => fetch(`http://127.0.0.1:${port}/acme/chat/users`)),
  );
  const bodies: unknown[] = await Promise.all(responses.map((response) => response.json()));
  console.log(
    JSON.stringify({
      statuses: responses.map((response) => response.status),
      admitted: bodies.find((_, i) => responses[i]?.status === 200),
      refused: bodies.find((_, i) => responses[i]?.status === 429),
    }),
  );
  server.closeAllConnections();
  server.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
