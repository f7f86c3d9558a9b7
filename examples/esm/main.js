// A plain ESM consumer: the package's root export through `import`, the API under /v1 (`basePath`).
import { once } from 'node:events';
import express from 'express';
import { imRateLimit, MemoryStore } from 'im-rate-limit';

const now = Date.now(); // a clock that stands still: no token refills during the burst, however slow the machine
const app = express();
app.use(imRateLimit({ edition: 'community', store: new MemoryStore({ clock: () => now }), basePath: '/v1' }));
app.get('/v1/:org/:app/users', (_req, res) => {
  res.json({ entities: [] });
});

const server = app.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address();
const responses = await Promise.all(
  Array.from({ length: 11 }, () => fetch(`http://127.0.0.1:${port}/v1/acme/chat/users`)),
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
