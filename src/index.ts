export type {
  Config,
  Edition,
  EditionResolver,
  HeaderStyle,
  Logger,
  Options,
  Overrides,
  StoreErrorPolicy,
} from './config.js';
export { ConfigError, type ErrorCode, ImRateLimitError, StoreError } from './errors.js';
export type { Outcome as Decision } from './limiter.js';
export { appKeyOf, type NameCase } from './limits/app-key.js';
export {
  type Classifier,
  type ClassifierOptions,
  classify,
  compileClassifier,
  type RouteMatch,
} from './limits/classify.js';
export {
  type MembershipEffect,
  type MembershipKind,
  type MessageSend,
  type Method,
  type Route,
  routes,
} from './limits/routes.js';
export {
  type Category,
  type CategoryRules,
  categories,
  defaultTable,
  type EditionRules,
  type QuotaTable,
} from './limits/table.js';
export { type GuardOptions, type ImRateLimit, imRateLimit } from './middleware/rate-limit.js';
export type { MembershipSource } from './store/membership.js';
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store.js';
export {
  type FlexiblePolicy,
  RateLimiterFlexibleStore,
  type RateLimiterFlexibleStoreOptions,
} from './store/rate-limiter-flexible-store.js';
export { RedisStore, type RedisStoreOptions } from './store/redis-store.js';
export type { BucketCheck, Check, Reading, Store, WindowCheck } from './store/store.js';
