// A CommonJS consumer on Express 4: the package (ESM) through require(), as Node >= 20.19 and 22.12 load it.
const { once } = require('node:events');
const express = require('express');
const { imRateLimit, MemoryStore } = require('im-rate-limit');

async function main() {
  const now = Date.now(); // a clock that stands still: no token refills during the burst, however slow the machine
  const app = express();
  app.use(imRateLimit({ edition: 'community', store: new MemoryStore({ clock: () => now }) }));
  app.get('/:org/:app/users', (_req, res) => {
    res.json({ entities: [] });
  });

  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  const responses = await Promise.all(
    Array.from({ length: 11 }, () => fetch(`http://127.0.0.1:${port}/acme/chat/users`)),
  );
  const bodies = await Promise.all(responses.map((response) => response.json()));
  console.log(
    JSON.stringify({
      statuses: responses.map((response) => response.status),
      admitted: bodies.find((_, i) => responses[i].status === 200),
      refused: bodies.find((_, i) => responses[i].status === 429),
    }),
  );
  server.closeAllConnections();
  server.close();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
