import type { CanActivate, CustomDecorator, ExecutionContext } from '@nestjs/common';
import type { ApplicationConfig, Reflector } from '@nestjs/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { type Category, ConfigError, categories, type GuardOptions, type ImRateLimit } from '../index.js';
import { common, core } from './nest.js';

/** The injection token of the `ImRateLimit` instance (`ImRateLimitModule` provides it; or provide your own). */
export const IM_RATE_LIMIT: unique symbol = Symbol('IM_RATE_LIMIT');

/** The metadata key `@ImRateLimitCategory()` writes and `ImRateLimitGuard` reads. */
export const IM_RATE_LIMIT_METADATA = 'im-rate-limit:category';

/** What `@ImRateLimitCategory()` records on a handler or a controller. */
export interface ImRateLimitMetadata {
  readonly category: Category;
  readonly options?: GuardOptions;
}

/**
 * Holds the handlers of a controller (or one handler) to `category`'s quota, as `limiter.guard()`
 * does an Express route: apply `ImRateLimitGuard` too (`@UseGuards`, or `APP_GUARD` once). The
 * app comes from the `:org` and `:app` route parameters, else the first two path segments after
 * the global prefix, else `options.appKey`.
 */
export function ImRateLimitCategory(category: Category, options?: GuardOptions): CustomDecorator<string> {
  if (!categories.includes(category)) {
    throw new ConfigError(
      'ERR_UNKNOWN_CATEGORY',
      'ImRateLimitCategory',
      `unknown category ${JSON.stringify(category)}; expected one of ${categories.join(', ')}`,
    );
  }
  const metadata: ImRateLimitMetadata = options === undefined ? { category } : { category, options };
  return common.SetMetadata(IM_RATE_LIMIT_METADATA, metadata);
}

/**
 * Thrown by `ImRateLimitGuard` once the limiter has answered a request it refused (429, 400, 403,
 * 503, or what `onRefused` answered): the status is the one answered. Nest's exception filter
 * finds the headers sent and only ends the response: nothing is answered twice and nothing is
 * logged. An exception filter of your own should do the same (`if (response.headersSent) return`).
 */
export class ImRateLimitRefusedException extends common.HttpException {
  constructor(status: number) {
    super({ statusCode: status, message: 'Refused by im-rate-limit; the response was sent' }, status);
  }
}

/**
 * Runs `limiter.guard(category)` for the handlers `@ImRateLimitCategory(category)` marks (anything else
 * passes) on the Express request and response. Admitted: `true`. Refused: the limiter has answered
 * with the IM body and headers, then `ImRateLimitRefusedException` ends the pipeline. An error the
 * limiter passes on (`next(err)`) is thrown as it is, for Nest's exception filters. A request the
 * module's middleware counted already is not counted again.
 *
 * Nest builds it with the `IM_RATE_LIMIT` token; without Nest's injector,
 * `@UseGuards(new ImRateLimitGuard(limiter))`.
 */
export class ImRateLimitGuard implements CanActivate {
  readonly #limiter: ImRateLimit;
  readonly #reflector: Reflector;
  readonly #config: ApplicationConfig | undefined;
  readonly #handlers = new WeakMap<ImRateLimitMetadata, RequestHandler>();

  constructor(limiter: ImRateLimit, reflector?: Reflector, config?: ApplicationConfig) {
    this.#limiter = limiter;
    this.#reflector = reflector ?? new core.Reflector();
    this.#config = config;
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const metadata = this.#reflector.getAllAndOverride<ImRateLimitMetadata | undefined>(IM_RATE_LIMIT_METADATA, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (metadata === undefined) return true;
    const http = context.switchToHttp();
    return admit(this.#handlerOf(metadata), http.getRequest<Request>(), http.getResponse<Response>());
  }

  #handlerOf(metadata: ImRateLimitMetadata): RequestHandler {
    let handler = this.#handlers.get(metadata);
    if (handler === undefined) {
      const prefix = globalPrefix(this.#config);
      const options =
        metadata.options?.appKey !== undefined
          ? metadata.options
          : { ...metadata.options, appKey: appNamesAfter(prefix ?? '') };
      handler = this.#limiter.guard(metadata.category, options);
      this.#handlers.set(metadata, handler);
    }
    return handler;
  }
}
common.Injectable()(ImRateLimitGuard);
common.Inject(IM_RATE_LIMIT)(ImRateLimitGuard, undefined, 0);
common.Inject(core.Reflector)(ImRateLimitGuard, undefined, 1);
common.Inject(core.ApplicationConfig)(ImRateLimitGuard, undefined, 2);
common.Optional()(ImRateLimitGuard, undefined, 2);

/**
 * Settles once the guard has decided: `true` when it called `next()`, its error when it called
 * `next(err)`, and `ImRateLimitRefusedException` once the response it answered has ended (or the
 * client has gone): never while an asynchronous `onRefused` is still answering.
 */
function admit(handler: RequestHandler, req: Request, res: Response): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      res.off('finish', refused);
      res.off('close', refused);
      return true;
    };
    const refused = (): void => {
      if (settle()) reject(new ImRateLimitRefusedException(res.statusCode));
    };
    const next: NextFunction = (error?: unknown) => {
      if (!settle()) return;
      if (error === undefined) resolve(true);
      else reject(error);
    };
    res.once('finish', refused);
    res.once('close', refused);
    try {
      handler(req, res, next);
    } catch (error) {
      if (settle()) reject(error);
    }
    if (res.writableEnded || res.destroyed) refused(); // answered already: no need to wait for the flush
  });
}

/** The global prefix with one leading slash and none trailing; `undefined` when there is none. */
export function globalPrefix(config: ApplicationConfig | undefined): string | undefined {
  const prefix = config?.getGlobalPrefix().replace(/^\/+|\/+$/g, '');
  return prefix ? `/${prefix}` : undefined;
}

/**
 * The app of a guarded request: its `:org` and `:app` route parameters, else the first two path
 * segments after the global prefix, decoded as Express decodes parameters.
 */
function appNamesAfter(prefix: string): (req: Request) => { org: string; app: string } {
  const lower = prefix.toLowerCase();
  return (req) => {
    const params = (req.params ?? {}) as Record<string, string | undefined>;
    if (params.org !== undefined && params.app !== undefined) return { org: params.org, app: params.app };
    let path = req.path;
    if (path.toLowerCase().startsWith(lower) && (path.length === prefix.length || path[prefix.length] === '/'))
      path = path.slice(prefix.length);
    const [org = '', app = ''] = path.split('/').filter(Boolean);
    return { org: decodeName(org), app: decodeName(app) };
  };
}

function decodeName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
