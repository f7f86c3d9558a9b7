import { setImmediate as setRealImmediate } from 'node:timers';
import { StoreError } from '../errors.js';
import { type LuaScript, notConnected, type RedisClient } from './lua-script.js';
import { slotOf } from './slot.js';
import type { Check, Reading } from './store.js';

/**
 * Checks of one call at most: a call decides every decision in it before Redis serves anyone else,
 * so this bounds how long it holds Redis (a plain call is one check, a send two).
 */
export const MAX_BATCH_CHECKS = 256;
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
    // a lost connection fails the request now, not when its batch leaves (see `notConnected`)
    const unreachable = notConnected(this.client);
    if (unreachable !== undefined) return Promise.reject(unreachable);
    const slot = this.slotOf === undefined ? 0 : this.slotOf((checks[0] as Check).key);
    let batch = this.filling.get(slot);
    if (batch === undefined) {
      batch = new Batch();
      this.filling.set(slot, batch);
      if (!this.scheduled) {
        this.scheduled = true;
        setRealImmediate(this.flushAll);
      }
    }
    const answer = batch.add(checks);
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
    this.script.run(this.client, batch.keys, [now, batch.figures]).then(
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
  /** Per decision: its number of checks, and how to settle its promise. */
  private readonly counts: number[] = [];
  private readonly resolvers: Array<(readings: Reading[]) => void> = [];
  private readonly rejecters: Array<(error: unknown) => void> = [];

  add(checks: readonly Check[]): Promise<Reading[]> {
    this.figures += figuresOf(checks, this.keys);
    this.counts.push(checks.length);
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
    for (let d = 0; d < answers.length; d++) (resolvers[d] as (readings: Reading[]) => void)(answers[d] as Reading[]);
  }

  /** The decisions' readings, one after the other in `reply`, or `undefined` unless it holds exactly theirs. */
  private read(reply: readonly unknown[]): Reading[][] | undefined {
    const { counts } = this;
    const answers: Reading[][] = new Array(counts.length);
    let at = 0;
    for (let d = 0; d < counts.length; d++) {
      const count = counts[d] as number;
      const readings = readingsAt(reply, at, count);
      if (readings === undefined) return undefined;
      answers[d] = readings;
      at += count * FIELDS_PER_READING;
    }
    return at === reply.length ? answers : undefined;
  }

  fail(error: unknown): void {
    for (const reject of this.rejecters) reject(error);
  }
}

/** A decision's figures in the take script's words (each followed by a space); its keys pushed on `keys`. */
export function figuresOf(checks: readonly Check[], keys: string[]): string {
  let figures = `${checks.length} `;
  for (const check of checks) {
    keys.push(check.key);
    if (check.type === 'bucket') figures += `b ${check.capacity} ${check.intervalMs} ${check.cost} `;
    else {
      const { edgesMs } = check;
      figures += `w ${check.limit} ${check.cost} ${edgesMs.length} `;
      for (const edge of edgesMs) figures += `${edge} `;
    }
  }
  return figures;
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

export function unexpectedReply(reply: unknown): StoreError {
  return new StoreError(
    'ERR_STORE_REPLY',
    `unexpected reply from the Redis script: ${JSON.stringify(reply)?.slice(0, 200)}`,
  );
}
