import 'reflect-metadata';
import { Body, Controller, Get, HttpCode, Inject, Module, Post, VersioningType } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ImRateLimit, MemoryStore } from '../../src/index.js';
import { IM_RATE_LIMIT, ImRateLimitModule } from '../../src/nestjs/index.js';
import { clockedApp, FakeClock } from '../helpers.js';
import { nestApp } from './app.js';

const statusesOf = async (times: number, call: () => request.Test): Promise<number[]> => {
  const statuses: number[] = [];
  for (let i = 0; i < times; i++) statuses.push((await call()).status);
  return statuses;
};

const NOW = Date.UTC(2026, 10, 28, 1, 0, 0);

@Controller(':org/:app')
class ImController {
  @Get('users')
  users() {
    return { ok: true, body: null };
  }

  @Post('messages/users')
  @HttpCode(200)
  send(@Body() body: unknown) {
    return { ok: true, body };
  }
}

/** An application with the module, on a MemoryStore whose clock stands still. */
function moduleWith(options: Parameters<typeof ImRateLimitModule.forRoot>[0] = {}) {
  const store = new MemoryStore({ clock: new FakeClock().now });
  @Module({ imports: [ImRateLimitModule.forRoot({ store, ...options })], controllers: [ImController] })
  class AppModule {}
  return AppModule;
}

/** Status, body and the limiter's headers of one answer, to compare Nest's with Express's. */
const answer = (response: request.Response) => ({
  status: response.status,
  text: response.text,
  contentType: response.headers['content-type'],
  retryAfter: response.headers['retry-after'],
  policy: response.headers['ratelimit-policy'],
  rateLimit: response.headers.ratelimit,
});

describe('ImRateLimitModule: the full limiter on every route', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('under the global prefix: 11 GETs give 10 × 200 and the 429 the Express middleware answers', async () => {
    const { server, logger } = await nestApp(moduleWith(), { prefix: 'api' });
    const express = clockedApp().app;
    const nest: ReturnType<typeof answer>[] = [];
    const plain: ReturnType<typeof answer>[] = [];
    for (let i = 0; i < 11; i++) {
      nest.push(answer(await request(server).get('/api/acme/chat/users')));
      plain.push(answer(await request(express).get('/acme/chat/users')));
    }
    expect(nest.map(({ status }) => status)).toEqual([...Array(10).fill(200), 429]);
    expect(nest).toEqual(plain);
    expect(nest[9]).toMatchObject({ policy: '"users";q=10;w=1', rateLimit: '"users";r=0;t=1' });
    expect(nest[10]).toEqual({
      status: 429,
      text: `{"error":"reach_limit","exception":"ReachLimitException","timestamp":${NOW},"duration":0,"error_description":"This request has reached api limit"}`,
      contentType: 'application/json; charset=utf-8',
      retryAfter: '1',
      policy: '"users";q=10;w=1',
      rateLimit: '"users";r=0;t=1',
    });
    expect([logger.errors, logger.warnings]).toEqual([[], []]);
  });

  it.each([
    ['api', '/api'],
    ['/api/v2/', '/api/v2'],
  ])('reads the global prefix %j at init, after NestFactory.create()', async (prefix, path) => {
    const { server } = await nestApp(moduleWith(), { prefix });
    let admitted = 0;
    for (let i = 0; i < 12; i++) if ((await request(server).get(`${path}/ACME/chat/users`)).status === 200) admitted++;
    expect(admitted).toBe(10);
    // the same path without the prefix is no route of the app, and not counted
    expect((await request(server).get('/acme/chat/users')).status).toBe(404);
  });

  it('without a global prefix', async () => {
    const { server } = await nestApp(moduleWith());
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await request(server).get('/acme/chat/users')).status);
    expect(statuses).toEqual([...Array(10).fill(200), 429]);
  });

  it('runs the payload checks on the body Nest has parsed: a message over 4 KB is refused', async () => {
    const { server } = await nestApp(moduleWith(), { prefix: 'api' });
    // {"type":"txt","msg":"…"} is 23 bytes of JSON around the text
    const message = (bytes: number) => ({ to: ['bob'], body: { type: 'txt', msg: 'a'.repeat(bytes - 23) } });
    const fits = await request(server).post('/api/acme/chat/messages/users').send(message(4096));
    expect(fits.status).toBe(200);
    expect(fits.body).toEqual({ ok: true, body: message(4096) }); // the handler got the body
    const refused = await request(server).post('/api/acme/chat/messages/users').send(message(4097));
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text)).toEqual({
      error: 'message_send_error',
      exception: 'MessageSendErrorException',
      timestamp: NOW,
      duration: 0,
      error_description: 'message is too large: 4097 bytes, limit 4096',
    });
    // the refused send took no token: after the one admitted, 9 more are
    let admitted = 0;
    for (let i = 0; i < 10; i++)
      if ((await request(server).post('/api/acme/chat/messages/users').send(message(100))).status === 200) admitted++;
    expect(admitted).toBe(9);
  });

  it('provides the instance as IM_RATE_LIMIT: setEdition and inspect on the one that counts', async () => {
    const { app, server } = await nestApp(moduleWith(), { prefix: 'api' });
    const limiter = app.get<ImRateLimit>(IM_RATE_LIMIT);
    await limiter.setEdition('acme#chat', 'enterprise');
    let admitted = 0;
    for (let i = 0; i < 31; i++) if ((await request(server).get('/api/acme/chat/users')).status === 200) admitted++;
    expect(admitted).toBe(30);
    expect((await limiter.inspect('acme#chat')).categories.users).toMatchObject({ limit: 30, remaining: 0 });
  });

  it('injects it into providers, and forRootAsync takes the options from a factory', async () => {
    const store = new MemoryStore({ clock: new FakeClock().now });
    @Module({ providers: [{ provide: 'PLAN', useValue: 'enterprise' }], exports: ['PLAN'] })
    class PlansModule {}

    @Controller('plans')
    class PlansController {
      constructor(@Inject(IM_RATE_LIMIT) private readonly limiter: ImRateLimit) {}
      @Get(':org/:app')
      async plan() {
        return { users: this.limiter.rules('acme#chat').users.ratePerSecond };
      }
    }

    @Module({
      imports: [
        ImRateLimitModule.forRootAsync({
          imports: [PlansModule],
          inject: ['PLAN'],
          useFactory: async (edition: string) => ({ edition, store }),
        }),
      ],
      controllers: [ImController, PlansController],
    })
    class AppModule {}
    const { server } = await nestApp(AppModule, { prefix: 'api' });
    expect((await request(server).get('/api/plans/acme/chat')).body).toEqual({ users: 30 });
    let admitted = 0;
    for (let i = 0; i < 31; i++) if ((await request(server).get('/api/acme/chat/users')).status === 200) admitted++;
    expect(admitted).toBe(30);
  });

  it('refuses to start when a provider used the limiter before the global prefix was known', async () => {
    const early = (basePath?: string) => {
      const store = new MemoryStore({ clock: new FakeClock().now });
      @Module({
        imports: [ImRateLimitModule.forRoot(basePath === undefined ? { store } : { store, basePath })],
        controllers: [ImController],
        providers: [
          {
            provide: 'EARLY',
            useFactory: (limiter: ImRateLimit) => limiter.rules('acme#chat'),
            inject: [IM_RATE_LIMIT],
          },
        ],
      })
      class AppModule {}
      return AppModule;
    };
    const { app } = await nestApp(early(), { prefix: 'api', init: false });
    await expect(app.init()).rejects.toThrow(
      `im-rate-limit: the limiter was used before app.init() (by a constructor or a factory), before the global prefix "/api" was known; give it as an option: ImRateLimitModule.forRoot({ basePath: '/api', … })`,
    );
    // given as an option, it is known from the start
    const { server } = await nestApp(early('/api'), { prefix: 'api' });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await request(server).get('/api/acme/chat/users')).status);
    expect(statuses).toEqual([...Array(10).fill(200), 429]);
  });

  it('with URI versioning, warns unless given a basePath that covers the version', async () => {
    const versioned = {
      setup: (app: NestExpressApplication) => app.enableVersioning({ type: VersioningType.URI, defaultVersion: '1' }),
    };
    const { server, logger } = await nestApp(moduleWith(), { prefix: 'api', ...versioned });
    expect(logger.warnings).toEqual([
      [
        'URI versioning puts a version segment between the global prefix and /{org}/{app}/…, where the limiter does not look for it: give ImRateLimitModule a basePath that covers it, e.g. /^\\/api\\/v\\d+/',
        'ImRateLimitModule',
      ],
    ]);
    expect(await statusesOf(11, () => request(server).get('/api/v1/acme/chat/users'))).toEqual(Array(11).fill(200));
    const covered = await nestApp(moduleWith({ basePath: /^\/api\/v\d+/ }), { prefix: 'api', ...versioned });
    expect(covered.logger.warnings).toEqual([]);
    expect(await statusesOf(11, () => request(covered.server).get('/api/v1/acme/chat/users'))).toEqual([
      ...Array(10).fill(200),
      429,
    ]);
  });

  it('validates the options when the application initialises', async () => {
    const { app } = await nestApp(moduleWith({ edition: 'gold' as 'community' }), { init: false });
    await expect(app.init()).rejects.toMatchObject({ code: 'ERR_UNKNOWN_EDITION' });
  });

  it('middleware: false applies nothing to the routes; the instance is still provided', async () => {
    const { app, server } = await nestApp(moduleWith({ middleware: false }), { prefix: 'api' });
    for (let i = 0; i < 15; i++) expect((await request(server).get('/api/acme/chat/users')).status).toBe(200);
    expect(app.get<ImRateLimit>(IM_RATE_LIMIT).rules('acme#chat').users.ratePerSecond).toBe(10);
  });
});
