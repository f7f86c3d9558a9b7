import type { WarningCode } from './errors.js';

/**
 * Every warning this library logs, by code: the options' checks for a limiter mounted wrong
 * (`warningCodes`, which `validate` can silence) and what goes wrong at run time.
 */
export type LogCode =
  | WarningCode
  | 'WRN_STORE_DOWN'
  | 'WRN_STORE_BACK'
  | 'WRN_MEMORY_STORE_FULL'
  | 'WRN_LEDGER_PER_PROCESS'
  | 'WRN_REDIS_EVICTION'
  | 'WRN_REDIS_EVICTION_UNCHECKED'
  | 'WRN_SETTINGS_UNREAD'
  | 'WRN_SETTINGS_IGNORED'
  | 'WRN_RESOLVER_FAILED'
  | 'WRN_OVERRIDES_SOURCE_FAILED'
  | 'WRN_HOOK_THREW'
  | 'WRN_ADMIN_CHANGE';

/** A warning's structured part: its code, and the values the message names. */
export interface LogFields {
  readonly code: LogCode;
  readonly [field: string]: unknown;
}

/**
 * Where warnings go: `warn(fields, message)`, the form pino takes (fields in the record, `msg` the
 * message), and which `console.warn` prints as the object and then the line.
 */
export interface Logger {
  warn(fields: LogFields, message: string): void;
}

/**
 * Logs one warning: `fields` carry its code, and the line reads on its own (`im-rate-limit: WRN_…: …`)
 * for a logger that prints only the message. A logger that throws loses the line, never a request
 * nor a store call.
 */
export function logWarning(
  logger: Logger,
  code: LogCode,
  message: string,
  fields: Readonly<Record<string, unknown>> = {},
): void {
  try {
    logger.warn({ code, ...fields }, `im-rate-limit: ${code}: ${message}`);
  } catch {
    // the warning is lost; the limiter goes on
  }
}
