/** Every error this library throws carries one of these stable codes. */
export type ErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_UNKNOWN_OPTION'
  | 'ERR_UNKNOWN_EDITION'
  | 'ERR_UNKNOWN_CATEGORY'
  | 'ERR_NO_BODY_PARSER'
  | 'ERR_INVALID_DECORATOR'
  | 'ERR_STORE'
  | 'ERR_STORE_TIMEOUT'
  | 'ERR_STORE_REPLY'
  | 'ERR_STORE_REPLICAS';

/**
 * What a limiter mounted wrong logs, once each, before it can do harm unnoticed; `validate: false`
 * or `validate: { WRN_…: false }` silences them.
 */
export const warningCodes = [
  'WRN_NOTHING_CLASSIFIED',
  'WRN_MEMORY_STORE_MULTI_PROCESS',
  'WRN_COUNTED_TWICE',
  'WRN_PARSER_AFTER_LIMITER',
] as const;
export type WarningCode = (typeof warningCodes)[number];

export class ImRateLimitError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Invalid options, thrown when `imRateLimit()` runs; the message starts with the option's path. */
export class ConfigError extends ImRateLimitError {
  readonly path: string;
  constructor(code: Extract<ErrorCode, `ERR_${'INVALID' | 'UNKNOWN'}_${string}`>, path: string, problem: string) {
    super(code, path ? `${path}: ${problem}` : problem);
    this.path = path;
  }
}

/** The codes of a `StoreError`: every one is a series of the store-failures metric from start-up. */
export const storeErrorCodes = ['ERR_STORE', 'ERR_STORE_TIMEOUT', 'ERR_STORE_REPLY', 'ERR_STORE_REPLICAS'] as const;
export type StoreErrorCode = (typeof storeErrorCodes)[number];

/** A store that failed, timed out or answered something it should not have. */
export class StoreError extends ImRateLimitError {
  declare readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
