/** Every error this library throws carries one of these stable codes. */
export type ErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_UNKNOWN_OPTION'
  | 'ERR_UNKNOWN_EDITION'
  | 'ERR_UNKNOWN_CATEGORY'
  | 'ERR_NO_BODY_PARSER'
  | 'ERR_STORE'
  | 'ERR_STORE_TIMEOUT'
  | 'ERR_STORE_REPLY';

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

/** A store that failed, timed out or answered something it should not have. */
export class StoreError extends ImRateLimitError {
  constructor(code: Extract<ErrorCode, `ERR_STORE${string}`>, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
