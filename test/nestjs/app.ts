import 'reflect-metadata';
import type { LoggerService, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { afterEach } from 'vitest';

/** Nest's log, kept: the tests assert that nothing was logged as an error or a warning. */
export class RecordingLogger implements LoggerService {
  readonly errors: unknown[][] = [];
  readonly warnings: unknown[][] = [];
  log(): void {}
  debug(): void {}
  verbose(): void {}
  error(...args: unknown[]): void {
    this.errors.push(args);
  }
  fatal(...args: unknown[]): void {
    this.errors.push(args);
  }
  warn(...args: unknown[]): void {
    this.warnings.push(args);
  }
}

const open: NestExpressApplication[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((app) => app.close()));
});

/**
 * A NestJS application on its Express adapter (Nest's own JSON and urlencoded body parsers on),
 * created, given `prefix` as its global prefix and whatever `setup` does, and initialised; closed
 * after the test.
 */
export async function nestApp(
  module: Type<unknown>,
  {
    prefix,
    init = true,
    setup,
  }: { prefix?: string; init?: boolean; setup?: (app: NestExpressApplication) => void } = {},
): Promise<{
  app: NestExpressApplication;
  logger: RecordingLogger;
  server: ReturnType<NestExpressApplication['getHttpServer']>;
}> {
  const logger = new RecordingLogger();
  const app = await NestFactory.create<NestExpressApplication>(module, { logger });
  open.push(app);
  if (prefix !== undefined) app.setGlobalPrefix(prefix);
  setup?.(app);
  if (init) await app.init();
  return { app, logger, server: app.getHttpServer() };
}
