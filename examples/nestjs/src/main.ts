// A NestJS application (Express platform, a global prefix) limited through the package's NestJS module.
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MemoryStore } from 'im-rate-limit';
import { ImRateLimitModule } from 'im-rate-limit/nestjs';

const now = Date.now(); // a clock that stands still: no token refills during the burst, however slow the machine

@Controller(':org/:app')
class UsersController {
  @Get('users')
  list() {
    return { entities: [] };
  }
}

@Module({
  imports: [ImRateLimitModule.forRoot({ edition: 'community', store: new MemoryStore({ clock: () => now }) })],
  controllers: [UsersController],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false, forceCloseConnections: true });
app.setGlobalPrefix('api');
await app.listen(0, '127.0.0.1');
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
