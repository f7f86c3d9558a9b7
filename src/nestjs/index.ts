/**
 * `im-rate-limit/nestjs`: the limiter in a NestJS application on Express. `ImRateLimitModule`
 * applies it to every route under the global prefix and provides the instance as `IM_RATE_LIMIT`;
 * `@ImRateLimitCategory(category)` with `ImRateLimitGuard` limits routes outside the IM catalog.
 */
export {
  IM_RATE_LIMIT,
  IM_RATE_LIMIT_METADATA,
  ImRateLimitCategory,
  ImRateLimitGuard,
  type ImRateLimitMetadata,
  ImRateLimitRefusedException,
} from './guard.js';
export {
  ImRateLimitModule,
  type ImRateLimitModuleAsyncOptions,
  type ImRateLimitModuleOptions,
  type ImRateLimitModuleSettings,
} from './module.js';
