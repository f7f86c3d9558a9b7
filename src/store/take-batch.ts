import { setImmediate as setRealImmediate } from 'node:timers';
import { StoreError } from '../errors.js';
import { type LuaScript, notConnected, type RedisClient } from './lua-script.js';
import { slotOf } from './slot.js';
import type { Check, Reading, SettingsCheck, SettingsDiffer } from './store.js';

/**
 * Checks of one call at most: a call decides every decision in it before Redis serves anyone else,
 * so this bounds how long it holds Redis (a plain call is one check, a send two; about 5 µs of Redis
 * CPU a check on the benchmarks' machine, so well under a millisecond a call).
 */
export const MAX_BATCH_CHECKS = 128;
const FIELDS_PER_READING = 4;

/**
 * Decisions asked for in the same turn of the event loop, sent together as one call of the take
 * script (`take-script.ts`): one command, one write and one reply instead of one each, and Redis
 * reads the time and each key once. Each decision is still decided on its own checks, all or
 * nothing, in the order asked, so each is exactly what it would have been alone at that instant.
 * The batch leaves on `setImmediate`, after every request read in the same poll phase has asked,
 * or at once when it holds `MAX_BATCH_CHECKS`: the real one (`node:timers`), since a test's fake
 * timers would hold the batch until advanced and every decision would hang. On a Cluster a call
 * holds only keys of one slot, so decisions are batched per slot. A call that fails fails every
 * decision in it.
 */
export class TakeBatcher {
  /** The batch being filled, per slot (a single slot, 0, when the client is not a Cluster's). */
  private readonly filling = new Map<number, Batch>();
  private readonly slotOf: ((key: string) => number) | undefined;
  private scheduled = false;
  private readonly flushAll = (): void => {
    this.scheduled = false;
    for (const batch of this.filling.values()) this.send(batch);
    this.filling.clear();
  };

  constructor(
    private readonly script: LuaScript,
    private readonly client: RedisClient,
    private readonly clock: (() => number) | undefined,
  ) {
    if (client.isCluster) this.slotOf = slotOf;
  }

  /** Every check of one request, decided together: in the next call for their slot. */
  take(checks: readonly Check[]): Promise<Reading[]> {
    return this.decide(checks, undefined, (checks[0] as Check).key) as Promise<Reading[]>;
  }

  /**
   * `take` with the app's settings compared in the same decision (`Store.takeChecked`); every
   * check in the settings' slot (the app's).
   */
  takeChecked(checks: readonly Check[], settings: SettingsCheck): Promise<Reading[] | SettingsDiffer> {
    return this.decide(checks, settings, settings.key);
  }

  private decide(
    checks: readonly Check[],
    settings: SettingsCheck | undefined,
    slotKey: string,
  ): Promise<Reading[] | SettingsDiffer> {
    // a lost connection fails the request now, not when its batch leaves (see `notConnected`)
    const unreachable = notConnected(this.client);
    if (unreachable !== undefined) return Promise.reject(unreachable);
    const slot = this.slotOf === undefined ? 0 : this.slotOf(slotKey);
    let batch = this.filling.get(slot);
    if (batch === undefined) {
      batch = new Batch();
      this.filling.set(slot, batch);
      if (!this.scheduled) {
        this.scheduled = true;
        setRealImmediate(this.flushAll);
      }
    }
    const answer = batch.add(checks, settings);
    if (batch.keys.length >= MAX_BATCH_CHECKS) {
      this.filling.delete(slot);
      this.send(batch);
    }
    return answer;
  }

  private send(batch: Batch): void {
    let now: number | '';
    try {
      now = this.clock === undefined ? '' : this.clock();
    } catch (error) {
      // on setImmediate a throw would end the process, and leave this turn's decisions unsettled
      batch.fail(error);
      return;
    }
    this.script.run(this.client, batch.keys, [now, batch.figures, ...batch.texts]).then(
      (reply) => batch.answer(reply),
      (error: unknown) => batch.fail(error),
    );
  }
}

/** The decisions of one call: their keys and figures as the script reads them, and who waits for each. */
class Batch {
  readonly keys: string[] = [];
  /** The script's ARGV[2]. */
  figures = '';
  /** The script's ARGV from 3: the settings checks' fields and values, texts that are not words. */
  readonly texts: string[] = [];
  /** Per decision: its number of checks (settings apart), its settings check if any, and how to settle its promise. */
  private readonly counts: number[] = [];
  private readonly settings: Array<SettingsCheck | undefined> = [];
  private readonly resolvers: Array<(answer: Reading[] | SettingsDiffer) => void> = [];
  private readonly rejecters: Array<(error: unknown) => void> = [];

  add(checks: readonly Check[], settings: SettingsCheck | undefined): Promise<Reading[] | SettingsDiffer> {
    this.figures += figuresOf(checks, this.keys, settings, this.texts);
    this.counts.push(checks.length);
    this.settings.push(settings);
    return new Promise((resolve, reject) => {
      this.resolvers.push(resolve);
      this.rejecters.push(reject);
    });
  }

  /** Each decision its readings, read from the reply in one pass: all of them, or the call failed. */
  answer(reply: unknown): void {
    const answers = Array.isArray(reply) ? this.read(reply) : undefined;
    if (answers === undefined) {
      this.fail(unexpectedReply(reply));
      return;
    }
    const { resolvers } = this;
    for (let d = 0; d < answers.length; d++) {
      (resolvers[d] as (answer: Reading[] | SettingsDiffer) => void)(answers[d] as Reading[] | SettingsDiffer);
    }
  }

  /** The decisions' answers, one after the other in `reply`, or `undefined` unless it holds exactly theirs. */
  private read(reply: readonly unknown[]): Array<Reading[] | SettingsDiffer> | undefined {
    const { counts, settings } = this;
    const answers: Array<Reading[] | SettingsDiffer> = new Array(counts.length);
    let at = 0;
    for (let d = 0; d < counts.length; d++) {
      const count = counts[d] as number;
      const readings = readingsAt(reply, at, count);
      if (readings === undefined) return undefined;
      at += count * FIELDS_PER_READING;
      const check = settings[d];
      if (check === undefined) answers[d] = readings;
      else {
        const answer = settingsAnswerAt(reply, at, readings, check.fields);
        if (answer === undefined) return undefined;
        answers[d] = answer;
        at += answer === readings ? 1 : 1 + check.fields.length;
      }
    }
    return at === reply.length ? answers : undefined;
  }

  fail(error: unknown): void {
    for (const reject of this.rejecters) reject(error);
  }
}

/**
 * A decision's figures in the take script's words (each followed by a space); its keys pushed on
 * `keys`. A settings check goes last, its fields and their values pushed on `texts` (the script's
 * ARGV from 3 on): they are any text, spaces included.
 */
export function figuresOf(
  checks: readonly Check[],
  keys: string[],
  settings?: SettingsCheck,
  texts: string[] = [],
): string {
  let figures = `${settings === undefined ? checks.length : checks.length + 1} `;
  for (const check of checks) {
    keys.push(check.key);
    if (check.type === 'bucket') figures += `b ${check.capacity} ${check.intervalMs} ${check.cost} `;
    else {
      const { edgesMs } = check;
      figures += `w ${check.limit} ${check.cost} ${edgesMs.length} `;
      for (const edge of edgesMs) figures += `${edge} `;
    }
  }
  if (settings !== undefined) {
    keys.push(settings.key);
    figures += `s ${settings.fields.length} ${texts.length + 3} `;
    for (const field of settings.fields) {
      const expected = settings.expected[field];
      texts.push(field, expected === undefined ? '' : `=${expected}`);
    }
  }
  return figures;
}

/**
 * The answer of a settings check at `at`, after its decision's `readings`: those readings when the
 * settings were as assumed (1), or what the store holds (0, then each field's text or null: not
 * held); `undefined` for anything else.
 */
export function settingsAnswerAt(
  reply: readonly unknown[],
  at: number,
  readings: Reading[],
  fields: readonly string[],
): Reading[] | SettingsDiffer | undefined {
  if (reply[at] === 1) return readings;
  if (reply[at] !== 0 || reply.length < at + 1 + fields.length) return undefined;
  const stored: Record<string, string> = {};
  for (let j = 0; j < fields.length; j++) {
    const held = reply[at + 1 + j];
    if (typeof held === 'string') stored[fields[j] as string] = held;
    else if (held !== null) return undefined;
  }
  return { stored };
}

/** `count` readings of the script's reply from `at`, or `undefined` if they are not four integers each, allowed 0 or 1. */
export function readingsAt(reply: readonly unknown[], at: number, count: number): Reading[] | undefined {
  const readings: Reading[] = new Array(count);
  for (let i = 0; i < count; i++, at += FIELDS_PER_READING) {
    const allowed = reply[at];
    const remaining = reply[at + 1];
    const resetMs = reply[at + 2];
    const retryAfterMs = reply[at + 3];
    if (
      (allowed !== 0 && allowed !== 1) ||
      !Number.isInteger(remaining) ||
      (remaining as number) < 0 ||
      !Number.isInteger(resetMs) ||
      !Number.isInteger(retryAfterMs)
    ) {
      return undefined;
    }
    readings[i] = {
      allowed: allowed === 1,
      remaining: remaining as number,
      resetMs: resetMs as number,
      retryAfterMs: retryAfterMs as number,
    };
  }
  return readings;
}

/** The readings of a call of one decision of `count` checks; a reply of anything else is an `ERR_STORE_REPLY`. */
export function readingsOf(reply: unknown, count: number): Reading[] {
  const readings =
    Array.isArray(reply) && reply.length === count * FIELDS_PER_READING ? readingsAt(reply, 0, count) : undefined;
  if (readings === undefined) throw unexpectedReply(reply);
  return readings;
}

/**
 * The answer of a call of one decision of `count` checks and a settings check of `fields`; a reply
 * of anything else is an `ERR_STORE_REPLY`.
 */
export function checkedAnswerOf(reply: unknown, count: number, fields: readonly string[]): Reading[] | SettingsDiffer {
  const at = count * FIELDS_PER_READING;
  const readings = Array.isArray(reply) ? readingsAt(reply, 0, count) : undefined;
  const answer = readings === undefined ? undefined : settingsAnswerAt(reply as unknown[], at, readings, fields);
  const length = answer === readings ? at + 1 : at + 1 + fields.length;
  if (answer === undefined || (reply as unknown[]).length !== length) throw unexpectedReply(reply);
  return answer;
}

export function unexpectedReply(reply: unknown): StoreError {
  return new StoreError(
    'ERR_STORE_REPLY',
    `unexpected reply from the Redis script: ${JSON.stringify(reply)?.slice(0, 200)}`,
  );
}
