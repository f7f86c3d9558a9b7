// A NestJS application (Express platform, a global prefix) limited through the package's NestJS module;
// docs/nestjs.md shows its regions. The package test compiles it against the packed package and runs it.
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Controller, Get, HttpCode, Inject, Module, Param, Post, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type ImRateLimit, MemoryStore } from 'im-rate-limit';
import { appKeyOf } from 'im-rate-limit/catalog';
import { IM_RATE_LIMIT, ImRateLimitCategory, ImRateLimitGuard, ImRateLimitModule } from 'im-rate-limit/nestjs';

// #region controllers
@Controller(':org/:app')
class ChatController {
  @Get('users') // a route of the IM catalog: the module limits it
  users() {
    return { entities: [] };
  }

  @Post('notify') // outside the catalog: held to the messages quota of its app
  @HttpCode(200)
  @ImRateLimitCategory('messages')
  @UseGuards(ImRateLimitGuard)
  notify() {
    return { ok: true };
  }
}

@Controller('plans') // behind your own authentication
class PlansController {
  constructor(@Inject(IM_RATE_LIMIT) private readonly limiter: ImRateLimit) {}

  @Post(':org/:app/enterprise')
  @HttpCode(200)
  async upgrade(@Param('org') org: string, @Param('app') app: string) {
    await this.limiter.setEdition(appKeyOf(org, app), 'enterprise');
    return this.limiter.rules(appKeyOf(org, app)).messages;
  }
}
// #endregion

const now = Date.now();
const store = new MemoryStore({ clock: () => now }); // a clock that stands still: the burst below is exact

// #region module
@Module({
  imports: [ImRateLimitModule.forRoot({ edition: 'community', store })], // every option of imRateLimit()
  controllers: [ChatController, PlansController],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false, forceCloseConnections: true });
app.setGlobalPrefix('api'); // read by the module at app.init(): the IM routes are /api/{org}/{app}/…
await app.listen(0, '127.0.0.1');
// #endregion

const { port } = app.getHttpServer().address() as AddressInfo;
const responses = await Promise.all(
  Array.from({ length: 11 }, () => fetch(`http://127.0.0.1:${port}/api/acme/chat/users`)),
);
const bodies: unknown[] = await Promise.all(responses.map((response) => response.json()));
console.log(
  JSON.stringify({
    statuses: responses.map((response) => response.status),
    admitted: bodies.find((_, i) => responses[i]?.status === 200),
    refused: bodies.find((_, i) => responses[i]?.status === 429),
  }),
);
await app.close();
