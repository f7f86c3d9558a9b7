/**
 * Every public type of the main entry, `im-rate-limit`: the options, what the limiter tells the
 * app (decisions, refusals, its state), the errors and warnings, the quota table, and the stores'
 * options. The catalog's types are those of `im-rate-limit/catalog`, the contracts of a store or
 * ledger of your own those of `im-rate-limit/store`.
 */
export type { AdminChange } from './admin-change.js';
export type { DecisionEvent, ImErrorCode, RateLimitInfo, Refusal, RefusalReason } from './decision.js';
export type { ErrorCode, StoreErrorCode, WarningCode } from './errors.js';
export type { AppSettingsView, AppState } from './limiter.js';
export type { NameCase } from './limits/app-key.js';
export type { BasePath } from './limits/classify.js';
export type { Category, CategoryRules, EditionRules, Overrides, QuotaTable } from './limits/table.js';
export type { LogCode, LogFields, Logger } from './log.js';
export type { AdminOptions } from './middleware/admin.js';
export type { LimitDecorator } from './middleware/limit-decorator.js';
export type { GuardOptions, ImRateLimit } from './middleware/rate-limit.js';
export type {
  AppKey,
  DailyCount,
  DailyQuotaOptions,
  Edition,
  EditionResolver,
  HeaderStyle,
  MembershipOption,
  MetricsOptions,
  MetricsRegistry,
  Mode,
  ModeResolver,
  Options,
  OverridesSource,
  RefusalCacheOptions,
  Validate,
} from './options.js';
export type { StoreErrorPolicy } from './store/failure-policy.js';
export type { MembershipSource } from './store/ledger.js';
export type { RedisClient } from './store/lua-script.js';
export type { MemoryStoreOptions } from './store/memory-store.js';
export type {
  FlexibleLimiter,
  FlexiblePolicy,
  FlexibleResult,
  RateLimiterFlexibleStoreOptions,
} from './store/rate-limiter-flexible-store.js';
export type { RedisStoreOptions } from './store/redis-store.js';
