import { type Logger, logWarning } from './log.js';
import { onRejection } from './maybe-async.js';

/** One run-time change an operator or the app's code made: what changed, before and after, and who. */
export interface AdminChange {
  readonly action: 'edition' | 'overrides' | 'mode' | 'reset' | 'reset-daily';
  /** The app changed; absent for the mode of every app. */
  readonly appKey?: string;
  readonly before: unknown;
  readonly after: unknown;
  /** Who made it: what the admin router's `actor(req)` answered; absent for a call from the app's code. */
  readonly actor?: string;
}

/**
 * Makes every change an audit event: one log line, and the app's `onAdminChange` hook, which can
 * never break the change: a throw or a rejection is caught and logged once.
 */
export function auditor(logger: Logger, hook: ((change: AdminChange) => unknown) | undefined) {
  let hookFailed = false;
  const failed = (error: unknown): void => {
    if (hookFailed) return;
    hookFailed = true;
    logWarning(logger, 'WRN_HOOK_THREW', `onAdminChange threw (${String(error)}); ignored`, { hook: 'onAdminChange' });
  };
  return (change: AdminChange): void => {
    const { action, appKey, before, after, actor } = change;
    logWarning(
      logger,
      'WRN_ADMIN_CHANGE',
      `${action} of ${appKey === undefined ? 'every app' : JSON.stringify(appKey)} ` +
        `by ${actor === undefined ? 'the app' : JSON.stringify(actor)}: ${JSON.stringify(before) ?? 'none'} -> ` +
        `${JSON.stringify(after) ?? 'none'}`,
      { action, appKey, before, after, actor },
    );
    if (hook === undefined) return;
    try {
      onRejection(hook(change), failed);
    } catch (error) {
      failed(error);
    }
  };
}
