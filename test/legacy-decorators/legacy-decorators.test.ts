import express, { type Request, type Response } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { ImRateLimitError, imRateLimit, type LimitDecorator, MemoryStore } from '../../src/index.js';
import { FakeClock } from '../helpers.js';

// This folder compiles with `experimentalDecorators` (its tsconfig.json): TypeScript and esbuild call
// each decorator the legacy way, `(prototype, key, descriptor)`, as in every NestJS project.

const fresh = () => imRateLimit({ store: new MemoryStore({ clock: new FakeClock().now }) });

/** The statuses of `count` requests sent one after the other. */
async function statuses(send: () => PromiseLike<{ status: number }>, count: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) seen.push((await send()).status);
  return seen;
}

describe('@limiter.limit under experimentalDecorators', () => {
  it('limits the method, keeping its this, its arguments and its return value', async () => {
    const limiter = fresh();
    const returned: unknown[] = [];
    const calledWith: number[] = [];
    /** The decorator, noting how many arguments it is called with: 3 is the legacy call. */
    const limit = ((...args: unknown[]) => {
      calledWith.push(args.length);
      return (limiter.limit('chatrooms') as (...args: unknown[]) => unknown)(...args);
    }) as LimitDecorator;

    class ChatroomsController {
      readonly greeting = 'joined';
      calls = 0;

      @limit
      join(_req: Request, res: Response) {
        this.calls++;
        res.json({ result: this.greeting });
        return 'returned';
      }
    }

    expect(calledWith).toStrictEqual([3]);
    const controller = new ChatroomsController();
    const app = express();
    app.post('/:org/:app/rooms/join', async (req, res) => {
      returned.push(await controller.join(req, res));
    });
    const seen = await statuses(() => request(app).post('/acme/chat/rooms/join'), 12);
    expect(seen).toStrictEqual([...Array<number>(10).fill(200), 429, 429]);
    expect(controller.calls).toBe(10);
    expect(returned.filter((value) => value === 'returned')).toHaveLength(10);
    const other = await request(app).post('/acme/other/rooms/join');
    expect({ status: other.status, body: other.body }).toStrictEqual({ status: 200, body: { result: 'joined' } });
  });

  it('the method stays a method: not enumerable, on the prototype, one wrapper per class', () => {
    const limiter = fresh();
    class Controller {
      @limiter.limit('messages')
      send(_req: Request, _res: Response) {}
    }
    const descriptor = Object.getOwnPropertyDescriptor(Controller.prototype, 'send');
    expect(descriptor?.enumerable).toBe(false);
    expect(descriptor?.writable).toBe(true);
    expect(new Controller().send).toBe(new Controller().send);
  });

  it('throws a clear error on an accessor or a class instead of limiting nothing', () => {
    const limiter = fresh();
    const decorate = limiter.limit('groups') as unknown as (...args: unknown[]) => unknown;
    const accessor = { get: () => 1, enumerable: false, configurable: true };
    expect(() => decorate(class {}.prototype, 'count', accessor)).toThrow(
      new ImRateLimitError(
        'ERR_INVALID_DECORATOR',
        'im-rate-limit: @limiter.limit("groups") decorates a class method that is an Express handler ' +
          '(req, res, next?); it was applied to an accessor',
      ),
    );
    expect(() => decorate(class {})).toThrow(/it was applied to a class$/);
    expect(() => decorate({}, 'field', undefined)).toThrow(/it was applied to something that is not a method$/);
  });
});
