import { createRequire } from 'node:module';
import type {
  DynamicModule,
  InjectionToken,
  MiddlewareConsumer,
  ModuleMetadata,
  NestModule,
  OptionalFactoryDependency,
  Provider,
} from '@nestjs/common';
import type { ApplicationConfig } from '@nestjs/core';
import { type ImRateLimit, imRateLimit, type Options } from '../index.js';
import { globalPrefix, IM_RATE_LIMIT } from './guard.js';
import { common, core } from './nest.js';

/** How the module mounts the limiter; the same for `forRoot` and `forRootAsync`. */
export interface ImRateLimitModuleSettings {
  /** Provide `IM_RATE_LIMIT` (and so `ImRateLimitGuard`) to every module; default `true`. */
  readonly isGlobal?: boolean;
  /**
   * Apply the full limiter (classification, payload checks, daily quota, membership) to every
   * route, under the global prefix; default `true`. `false`: only `@ImRateLimitCategory` routes are limited.
   */
  readonly middleware?: boolean;
}

/** The limiter's options, and the module's settings. */
export type ImRateLimitModuleOptions = Options & ImRateLimitModuleSettings;

export interface ImRateLimitModuleAsyncOptions extends ImRateLimitModuleSettings, Pick<ModuleMetadata, 'imports'> {
  /** The limiter's options, from other providers (a `ConfigService`…); may be async. */
  // biome-ignore lint/suspicious/noExplicitAny: Nest's own factory signature
  readonly useFactory: (...args: any[]) => Options | Promise<Options>;
  readonly inject?: ReadonlyArray<InjectionToken | OptionalFactoryDependency>;
}

const OPTIONS = Symbol('im-rate-limit:options');
const SETTINGS = Symbol('im-rate-limit:settings');
const HOLDER = Symbol('im-rate-limit:holder');

/**
 * The limiter of one application, built once the global prefix is known. Nest creates providers
 * in `NestFactory.create()`, before `app.setGlobalPrefix()`, and configures middleware in
 * `app.init()`, after it: the instance behind `IM_RATE_LIMIT` is built there, with the prefix as
 * `basePath`, or by whatever uses it first.
 */
class LimiterHolder {
  #limiter: ImRateLimit | undefined;
  /** Whether the limiter was built before the global prefix could be read. */
  #early = false;
  readonly facade: ImRateLimit;

  constructor(private readonly options: Options) {
    this.facade = delegate(() => {
      if (this.#limiter === undefined) this.#early = true;
      return this.#build(undefined);
    });
  }

  /** Whether the options name a `basePath`. */
  get hasBasePath(): boolean {
    return this.options.basePath !== undefined;
  }

  /** The limiter, built with the global prefix as `basePath` unless the options name one. */
  forApplication(prefix: string | undefined): ImRateLimit {
    if (this.#early && prefix !== undefined && this.options.basePath === undefined) {
      throw new Error(
        `im-rate-limit: the limiter was used before app.init() (by a constructor or a factory), before the global prefix ` +
          `"${prefix}" was known; give it as an option: ImRateLimitModule.forRoot({ basePath: '${prefix}', … })`,
      );
    }
    return this.#build(prefix);
  }

  #build(prefix: string | undefined): ImRateLimit {
    if (this.#limiter === undefined) {
      const { options } = this;
      this.#limiter = imRateLimit(
        options.basePath !== undefined || prefix === undefined ? options : { ...options, basePath: prefix },
      );
    }
    return this.#limiter;
  }
}

/** An `ImRateLimit` that hands every call to the one `limiter()` returns. */
function delegate(limiter: () => ImRateLimit): ImRateLimit {
  const facade: ImRateLimit = Object.assign(
    function imRateLimitMiddleware(...args: Parameters<ImRateLimit>) {
      return limiter()(...args);
    },
    {
      guard: (...args: Parameters<ImRateLimit['guard']>) => limiter().guard(...args),
      limit: (...args: Parameters<ImRateLimit['limit']>) => limiter().limit(...args),
      setEdition: (...args: Parameters<ImRateLimit['setEdition']>) => limiter().setEdition(...args),
      setOverrides: (...args: Parameters<ImRateLimit['setOverrides']>) => limiter().setOverrides(...args),
      rules: (...args: Parameters<ImRateLimit['rules']>) => limiter().rules(...args),
      inspect: (...args: Parameters<ImRateLimit['inspect']>) => limiter().inspect(...args),
      setMode: ((...args: unknown[]) =>
        (limiter().setMode as (...a: unknown[]) => Promise<void>)(...args)) as ImRateLimit['setMode'],
      reset: (...args: Parameters<ImRateLimit['reset']>) => limiter().reset(...args),
      resetDaily: (...args: Parameters<ImRateLimit['resetDaily']>) => limiter().resetDaily(...args),
      admin: (...args: Parameters<ImRateLimit['admin']>) => limiter().admin(...args),
    },
  );
  return facade;
}

/**
 * The full limiter on every route of a NestJS application on Express, under its global prefix,
 * and the `ImRateLimit` instance under `IM_RATE_LIMIT` (`setEdition`, `inspect`, `admin()`…).
 *
 * @example
 * ImRateLimitModule.forRoot({ edition: 'community', store: new RedisStore({ client }) })
 */
export class ImRateLimitModule implements NestModule {
  constructor(
    private readonly holder: LimiterHolder,
    private readonly settings: ImRateLimitModuleSettings,
    private readonly config: ApplicationConfig,
  ) {}

  configure(consumer: MiddlewareConsumer): void {
    const prefix = globalPrefix(this.config);
    const limiter = this.holder.forApplication(prefix);
    if (this.config.getVersioning()?.type === common.VersioningType.URI && !this.holder.hasBasePath) {
      new common.Logger('ImRateLimitModule').warn(
        `URI versioning puts a version segment between the global prefix and /{org}/{app}/…, where the limiter ` +
          `does not look for it: give ImRateLimitModule a basePath that covers it, e.g. /^${(prefix ?? '').replaceAll('/', '\\/')}\\/v\\d+/`,
      );
    }
    if (this.settings.middleware !== false) consumer.apply(limiter).forRoutes(everyRoute());
  }

  static forRoot(options: ImRateLimitModuleOptions = {}): DynamicModule {
    const { isGlobal, middleware, ...limiterOptions } = options;
    return moduleOf({ isGlobal, middleware }, [{ provide: OPTIONS, useValue: limiterOptions }]);
  }

  static forRootAsync(options: ImRateLimitModuleAsyncOptions): DynamicModule {
    const { isGlobal, middleware, imports = [], useFactory, inject = [] } = options;
    return {
      ...moduleOf({ isGlobal, middleware }, [{ provide: OPTIONS, useFactory, inject: [...inject] }]),
      imports: [...imports],
    };
  }
}
common.Module({})(ImRateLimitModule);
common.Inject(HOLDER)(ImRateLimitModule, undefined, 0);
common.Inject(SETTINGS)(ImRateLimitModule, undefined, 1);
common.Inject(core.ApplicationConfig)(ImRateLimitModule, undefined, 2);

/**
 * The `forRoutes()` path of every route. Nest 11 and later (Express 5, path-to-regexp 8) want a
 * named wildcard: they still take `*`, but under a global prefix warn of the `/api/*` they make of
 * it. Nest 10 (Express 4) knows only `*`, which is also what a version that cannot be read gets.
 */
function everyRoute(): string {
  try {
    const { version } = createRequire(import.meta.url)('@nestjs/core/package.json') as { version?: unknown };
    return Number.parseInt(String(version), 10) >= 11 ? '{*path}' : '*';
  } catch {
    return '*';
  }
}

function moduleOf(
  settings: { isGlobal: boolean | undefined; middleware: boolean | undefined },
  optionsProvider: Provider[],
): DynamicModule {
  return {
    module: ImRateLimitModule,
    global: settings.isGlobal ?? true,
    providers: [
      ...optionsProvider,
      { provide: SETTINGS, useValue: settings },
      { provide: HOLDER, useFactory: (options: Options) => new LimiterHolder(options), inject: [OPTIONS] },
      { provide: IM_RATE_LIMIT, useFactory: (holder: LimiterHolder) => holder.facade, inject: [HOLDER] },
    ],
    exports: [IM_RATE_LIMIT],
  };
}
