import 'reflect-metadata';
import {
  BadRequestException,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  HttpCode,
  Module,
  Post,
  UseGuards,
} from '@nestjs/common';
import { APP_GUARD, BaseExceptionFilter } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import express, { type Request, type Response } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ImRateLimit, imRateLimit, MemoryStore, type Options, RedisStore } from '../../src/index.js';
import {
  IM_RATE_LIMIT,
  ImRateLimitCategory,
  ImRateLimitGuard,
  ImRateLimitModule,
  ImRateLimitRefusedException,
} from '../../src/nestjs/index.js';
import { FakeClock, STORE_TIMEOUT_MS } from '../helpers.js';
import { singleClient } from '../support/clients.js';
import { nestApp } from './app.js';

const NOW = Date.UTC(2026, 10, 28, 1, 0, 0);
const REACH_LIMIT = `{"error":"reach_limit","exception":"ReachLimitException","timestamp":${NOW},"duration":0,"error_description":"This request has reached api limit"}`;

const statusesOf = async (times: number, call: () => request.Test): Promise<number[]> => {
  const statuses: number[] = [];
  for (let i = 0; i < times; i++) statuses.push((await call()).status);
  return statuses;
};
const tenfold = (times: number) => [...Array(10).fill(200), ...Array(times - 10).fill(429)];

/** A route outside the catalog, limited as `messages` by the guard; another, unmarked, that it lets through. */
@Controller('custom')
@UseGuards(ImRateLimitGuard)
class CustomController {
  @Post(':org/:app/notify')
  @HttpCode(200)
  @ImRateLimitCategory('messages')
  notify() {
    return { ok: true };
  }

  @Get('free')
  free() {
    return { ok: true };
  }
}

/** A catalog route that also carries the guard, and a route whose app is in the path but not in `:org`/`:app`. */
@Controller()
class MixedController {
  @Get(':org/:app/users')
  @ImRateLimitCategory('users')
  @UseGuards(ImRateLimitGuard)
  users() {
    return { ok: true };
  }

  @Get(':tenant/:project/board')
  @ImRateLimitCategory('groups')
  @UseGuards(ImRateLimitGuard)
  board() {
    return { ok: true };
  }
}

const limiterOptions = (options: Options = {}): Options => ({
  store: new MemoryStore({ clock: new FakeClock().now }),
  ...options,
});

function withModule(options: Options = {}) {
  @Module({
    imports: [ImRateLimitModule.forRoot(limiterOptions(options))],
    controllers: [CustomController, MixedController],
  })
  class AppModule {}
  return AppModule;
}

describe('@ImRateLimitCategory + ImRateLimitGuard, with the module', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('counts and refuses a route outside the catalog, answering as limiter.guard does on Express', async () => {
    const { server, logger } = await nestApp(withModule(), { prefix: 'api' });
    const limiter = imRateLimit(limiterOptions());
    const plain = express();
    plain.post('/custom/:org/:app/notify', limiter.guard('messages'), (_req, res) => {
      res.json({ ok: true });
    });
    const answer = (response: request.Response) => ({
      status: response.status,
      text: response.text,
      contentType: response.headers['content-type'],
      retryAfter: response.headers['retry-after'],
      policy: response.headers['ratelimit-policy'],
      rateLimit: response.headers.ratelimit,
    });
    const nest: ReturnType<typeof answer>[] = [];
    const expected: ReturnType<typeof answer>[] = [];
    for (let i = 0; i < 12; i++) {
      nest.push(answer(await request(server).post('/api/custom/acme/chat/notify')));
      expected.push(answer(await request(plain).post('/custom/acme/chat/notify')));
    }
    expect(nest.map(({ status }) => status)).toEqual(tenfold(12));
    expect(nest).toEqual(expected);
    expect(nest[10]).toEqual({
      status: 429,
      text: REACH_LIMIT,
      contentType: 'application/json; charset=utf-8',
      retryAfter: '1',
      policy: '"messages";q=10;w=1',
      rateLimit: '"messages";r=0;t=1',
    });
    // per app; and a handler it does not mark passes untouched
    expect(await statusesOf(11, () => request(server).post('/api/custom/acme/other/notify'))).toEqual(tenfold(11));
    expect(await statusesOf(15, () => request(server).get('/api/custom/free'))).toEqual(Array(15).fill(200));
    expect([logger.errors, logger.warnings]).toEqual([[], []]);
  });

  it('answers a refusal once: the exception it throws reaches Nest’s filter, which only ends the response', async () => {
    const { server, logger } = await nestApp(withModule(), { prefix: 'api' });
    await statusesOf(10, () => request(server).post('/api/custom/acme/chat/notify'));
    const caught = vi.spyOn(BaseExceptionFilter.prototype, 'catch');
    const reply = vi.spyOn(ExpressAdapter.prototype, 'reply');
    const end = vi.spyOn(ExpressAdapter.prototype, 'end');
    const refused = await request(server).post('/api/custom/acme/chat/notify');
    expect([refused.status, refused.text]).toEqual([429, REACH_LIMIT]);
    expect(refused.headers['content-length']).toBe(String(REACH_LIMIT.length));
    expect(caught).toHaveBeenCalledTimes(1);
    const [exception] = caught.mock.calls[0] ?? [];
    expect(exception).toBeInstanceOf(ImRateLimitRefusedException);
    expect((exception as ImRateLimitRefusedException).getStatus()).toBe(429);
    expect(reply).not.toHaveBeenCalled(); // no 403, no second body
    expect(end).toHaveBeenCalledTimes(1); // the filter found the headers sent
    expect([logger.errors, logger.warnings]).toEqual([[], []]); // no "headers already sent", nothing logged
  });

  it("Nest's own way, for the record: a guard that answered and returns false is not answered again", async () => {
    class AnsweringGuard implements CanActivate {
      canActivate(context: ExecutionContext): boolean {
        context.switchToHttp().getResponse<Response>().status(418).json({ teapot: true });
        return false;
      }
    }
    @Controller('tea')
    class TeaController {
      @Get()
      @UseGuards(AnsweringGuard)
      tea() {
        return { brewed: true };
      }
    }
    @Module({ controllers: [TeaController] })
    class AppModule {}
    const { server, logger } = await nestApp(AppModule);
    const reply = vi.spyOn(ExpressAdapter.prototype, 'reply');
    const response = await request(server).get('/tea');
    expect([response.status, response.text]).toEqual([418, '{"teapot":true}']);
    expect(reply).not.toHaveBeenCalled(); // the ForbiddenException found the headers sent
    expect([logger.errors, logger.warnings]).toEqual([[], []]);
  });

  it('waits for an asynchronous onRefused to answer before ending the pipeline', async () => {
    const options: Options = {
      onRefused: async (_req, res, refusal) => {
        await new Promise((resolve) => setImmediate(resolve));
        res.status(429).json({ refused: refusal.reason });
      },
    };
    const { server, logger } = await nestApp(withModule(options), { prefix: 'api' });
    const statuses = await statusesOf(11, () => request(server).post('/api/custom/acme/chat/notify'));
    expect(statuses).toEqual(tenfold(11));
    const refused = await request(server).post('/api/custom/acme/chat/notify');
    expect([refused.status, refused.text]).toEqual([429, '{"refused":"rate"}']);
    expect([logger.errors, logger.warnings]).toEqual([[], []]);
  });

  it('as APP_GUARD, once for the whole application: @ImRateLimitCategory alone marks a handler', async () => {
    @Controller('hooks')
    class HooksController {
      @Post(':org/:app')
      @HttpCode(200)
      @ImRateLimitCategory('files')
      hook() {
        return { ok: true };
      }

      @Get('health')
      health() {
        return { ok: true };
      }
    }
    @Module({
      imports: [ImRateLimitModule.forRoot(limiterOptions())],
      controllers: [HooksController],
      providers: [{ provide: APP_GUARD, useClass: ImRateLimitGuard }],
    })
    class AppModule {}
    const { server, logger } = await nestApp(AppModule, { prefix: 'api' });
    expect(await statusesOf(12, () => request(server).post('/api/hooks/acme/chat'))).toEqual(tenfold(12));
    expect(await statusesOf(12, () => request(server).get('/api/hooks/health'))).toEqual(Array(12).fill(200));
    expect([logger.errors, logger.warnings]).toEqual([[], []]);
  });

  it('does not count a catalog route twice: the module counted it, the guard lets it through', async () => {
    const { server } = await nestApp(withModule(), { prefix: 'api' });
    expect(await statusesOf(12, () => request(server).get('/api/acme/chat/users'))).toEqual(tenfold(12));
  });

  it('takes the app from the first two segments after the global prefix when the route has no :org/:app', async () => {
    const { app, server } = await nestApp(withModule(), { prefix: 'api' });
    expect(await statusesOf(3, () => request(server).get('/api/acme/chat/board'))).toEqual([200, 200, 200]);
    const limiter = app.get<ImRateLimit>(IM_RATE_LIMIT);
    expect((await limiter.inspect('acme#chat')).categories.groups.remaining).toBe(7);
    expect((await limiter.inspect('api#acme')).categories.groups.remaining).toBe(10);
  });

  it("hands an error the limiter passes on to Nest's exception layer", async () => {
    @Controller('failing')
    @UseGuards(ImRateLimitGuard)
    class FailingController {
      @Get('plain')
      @ImRateLimitCategory('files', {
        appKey: () => {
          throw new Error('no tenant header');
        },
      })
      plain() {
        return { ok: true };
      }

      @Get('http')
      @ImRateLimitCategory('files', {
        appKey: (req: Request) => {
          throw new BadRequestException(`no tenant for ${req.path}`);
        },
      })
      http() {
        return { ok: true };
      }
    }
    @Module({ imports: [ImRateLimitModule.forRoot(limiterOptions())], controllers: [FailingController] })
    class AppModule {}
    const { server, logger } = await nestApp(AppModule, { prefix: 'api' });
    const plain = await request(server).get('/api/failing/plain');
    expect([plain.status, plain.text]).toEqual([500, '{"statusCode":500,"message":"Internal server error"}']);
    expect(logger.errors).toHaveLength(1);
    expect(String(logger.errors[0]?.[0])).toContain('no tenant header');
    const http = await request(server).get('/api/failing/http');
    expect([http.status, http.body]).toEqual([
      400,
      { statusCode: 400, message: 'no tenant for /api/failing/http', error: 'Bad Request' },
    ]);
  });

  const client = singleClient();

  it('on a RedisStore, whose decisions arrive later: admits, refuses once, and logs nothing', async () => {
    // 3 tokens refilled once a minute: exact however slow the machine (the store's clock is Redis TIME)
    const rules = { messages: { ratePerSecond: 1 / 60, burst: 3 } };
    const { app, server, logger } = await nestApp(
      withModule({
        store: new RedisStore({ client }),
        storeTimeoutMs: STORE_TIMEOUT_MS,
        overrides: { 'acme#nest-guard': rules },
      }),
      { prefix: 'api' },
    );
    await app.get<ImRateLimit>(IM_RATE_LIMIT).reset('acme#nest-guard');
    const reply = vi.spyOn(ExpressAdapter.prototype, 'reply');
    const statuses = await statusesOf(5, () => request(server).post('/api/custom/acme/nest-guard/notify'));
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(reply).toHaveBeenCalledTimes(3); // the three handlers' answers, and no other
    const refused = await request(server).post('/api/custom/acme/nest-guard/notify');
    expect([refused.status, refused.text]).toEqual([429, REACH_LIMIT]);
    expect([logger.errors, logger.warnings]).toEqual([[], []]);
  });

  it('refuses an unknown category where it is written', () => {
    expect(() => ImRateLimitCategory('emails' as 'messages')).toThrow(
      'ImRateLimitCategory: unknown category "emails"; expected one of users, contacts, blocks, bans, offline, history, files, messages, groups, chatrooms',
    );
  });
});

describe('ImRateLimitGuard without the module', () => {
  it('from the IM_RATE_LIMIT token of your own provider', async () => {
    const limiter = imRateLimit(limiterOptions());
    @Module({
      providers: [{ provide: IM_RATE_LIMIT, useValue: limiter }],
      controllers: [CustomController, MixedController],
    })
    class AppModule {}
    const { server, logger } = await nestApp(AppModule, { prefix: 'api' });
    expect(await statusesOf(12, () => request(server).post('/api/custom/acme/chat/notify'))).toEqual(tenfold(12));
    // nothing is mounted on the routes: the catalog route is counted by its guard alone
    expect(await statusesOf(11, () => request(server).get('/api/acme/chat/users'))).toEqual(tenfold(11));
    // and the global prefix is read by the guard too
    await request(server).get('/api/acme/chat/board');
    expect((await limiter.inspect('acme#chat')).categories.groups.remaining).toBe(9);
    expect([logger.errors, logger.warnings]).toEqual([[], []]);
  });

  it('as an instance: @UseGuards(new ImRateLimitGuard(limiter))', async () => {
    const limiter = imRateLimit(limiterOptions());
    @Controller('custom')
    class InstanceController {
      @Post(':org/:app/notify')
      @HttpCode(200)
      @ImRateLimitCategory('messages')
      @UseGuards(new ImRateLimitGuard(limiter))
      notify() {
        return { ok: true };
      }
    }
    @Module({ controllers: [InstanceController] })
    class AppModule {}
    const { server } = await nestApp(AppModule);
    expect(await statusesOf(12, () => request(server).post('/custom/acme/chat/notify'))).toEqual(tenfold(12));
    expect(await statusesOf(11, () => request(server).post('/custom/acme/other/notify'))).toEqual(tenfold(11));
  });
});
