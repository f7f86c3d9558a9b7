export type {
  AppKey,
  Edition,
  EditionResolver,
  HeaderStyle,
  Logger,
  Mode,
  Options,
  OverridesSource,
  StoreErrorPolicy,
  Validate,
} from './config.js';
export type { DecisionEvent, RateLimitInfo, Refusal, RefusalReason } from './decision.js';
export { ConfigError, type ErrorCode, ImRateLimitError, StoreError, type WarningCode } from './errors.js';
export { appKeyOf, type NameCase } from './limits/app-key.js';
export { classify, type RouteMatch } from './limits/classify.js';
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
  type Overrides,
  type QuotaTable,
} from './limits/table.js';
export type { LogCode, LogFields } from './log.js';
export type { MembershipLedger, MembershipSource, Reservation } from './membership/ledger.js';
export {
  type AppState,
  type GuardOptions,
  type ImRateLimit,
  imRateLimit,
  type LimitDecorator,
} from './middleware/rate-limit.js';
export type { RedisClient } from './store/lua-script.js';
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store.js';
export {
  type FlexibleLimiter,
  type FlexiblePolicy,
  type FlexibleResult,
  RateLimiterFlexibleStore,
  type RateLimiterFlexibleStoreOptions,
} from './store/rate-limiter-flexible-store.js';
export { RedisStore, type RedisStoreOptions } from './store/redis-store.js';
export type { BucketCheck, Check, Reading, Settings, Store, WindowCheck } from './store/store.js';
