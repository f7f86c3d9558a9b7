/**
 * `im-rate-limit`: what an IM server mounts. The middleware factory, the stores, the errors, the
 * quota table, and (in `types.ts`) every type they take or give. The route catalog is
 * `im-rate-limit/catalog`; the contracts of a store or ledger of your own, `im-rate-limit/store`;
 * the NestJS module, `im-rate-limit/nestjs`.
 */
export { ConfigError, ImRateLimitError, StoreError, warningCodes } from './errors.js';
export { categories, defaultTable } from './limits/table.js';
export { imRateLimit } from './middleware/rate-limit.js';
export { MemoryStore } from './store/memory-store.js';
export { RateLimiterFlexibleStore } from './store/rate-limiter-flexible-store.js';
export { RedisStore } from './store/redis-store.js';
export type * from './types.js';
