// A controller class under TypeScript's legacy decorators (experimentalDecorators), as many codebases still compile.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { imRateLimit, MemoryStore } from 'im-rate-limit';

const now = Date.now(); // a clock that stands still: no token refills during the burst, however slow the machine
const limiter = imRateLimit({ edition: 'community', store: new MemoryStore({ clock: () => now }) });

class ChatRooms {
  private readonly rooms = ['lobby'];

  @limiter.limit('chatrooms')
  handler(_req: Request, res: Response, _next: NextFunction) {
    res.json({ data: this.rooms }); // `this` is the instance through the decorator
  }
}

const ctl = new ChatRooms();
const app = express();
app.get('/:org/:app/x', (req, res, next) => ctl.handler(req, res, next));

const server = app.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address() as AddressInfo;
const responses = await Promise.all(Array.from({ length: 11 }, () => fetch(`http://127.0.0.1:${port}/acme/chat/x`)));
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
