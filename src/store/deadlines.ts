import { performance } from 'node:perf_hooks';
import {
  clearTimeout as clearRealTimeout,
  setImmediate as setRealImmediate,
  setTimeout as setRealTimeout,
} from 'node:timers';
import { StoreError } from '../errors.js';

/** One call waiting for the store: settled by its answer, or failed once it falls due. */
class Waiting {
  next: Waiting | undefined = undefined;
  settled = false;

  constructor(
    readonly dueAt: number,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: unknown) => void,
    private readonly then: (value: never) => unknown,
    private readonly fail: (error: unknown) => unknown,
  ) {}

  /** Settles the call with what `then` or `fail` makes of its outcome; what they throw rejects it. */
  finish(outcome: unknown, failed: boolean): void {
    try {
      this.resolve(failed ? this.fail(outcome) : this.then(outcome as never));
    } catch (error) {
      this.reject(error);
    }
  }
}

/**
 * The deadlines of calls that all wait the same `ms`: they fall due in the order the calls were
 * made, so one queue and one timer (armed for the oldest call still waiting) serve them all, rather
 * than a timer per call, an object and a list insertion and removal in Node's timers each.
 *
 * Its clock and timers are the real ones (`node:perf_hooks`, `node:timers`), which a test's fake
 * timers leave alone. While fake timers are installed in their place, each call gets a timer of
 * its own from them (`withTimeout`), as before this queue: a fake clock moves only what it made.
 */
export class Deadlines {
  private first: Waiting | undefined = undefined;
  private last: Waiting | undefined = undefined;
  /** Calls not settled yet: when none is left, the timer is cleared, as a call's own timer was. */
  private waiting = 0;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(
    readonly ms: number,
    private readonly who = 'the store',
  ) {}

  /**
   * `then(value)` once `promise` fulfils, `fail(error)` once it rejects or has not settled within
   * `ms` (an `ERR_STORE_TIMEOUT`): one promise, of whichever comes first. The verdict of a timeout
   * waits one turn of the event loop past the timer, so that a reply that arrived while this
   * process was busy is not mistaken for one.
   */
  race<T, R>(
    promise: Promise<T>,
    then: (value: T) => R | PromiseLike<R>,
    fail: (error: unknown) => R | PromiseLike<R>,
  ): Promise<R> {
    if (globalThis.setTimeout !== setRealTimeout) return withTimeout(promise, this.ms, this.who).then(then, fail);
    return new Promise<R>((resolve, reject) => {
      const call = new Waiting(performance.now() + this.ms, resolve as (value: unknown) => void, reject, then, fail);
      this.enqueue(call);
      promise.then(
        (value) => {
          if (this.settle(call)) call.finish(value, false);
        },
        (error: unknown) => {
          if (this.settle(call)) call.finish(error, true);
        },
      );
    });
  }

  private enqueue(call: Waiting): void {
    if (this.last === undefined) this.first = call;
    else this.last.next = call;
    this.last = call;
    this.waiting++;
    // no timer while nothing waited, or while the only calls left were due (their verdicts pending)
    if (this.timer === undefined) this.timer = setRealTimeout(this.expire, this.ms);
  }

  /** Marks a call settled: false if it was already (timed out, or answered before its verdict). */
  private settle(call: Waiting): boolean {
    if (call.settled) return false;
    call.settled = true;
    if (--this.waiting === 0) {
      // nothing waits: drop the queue and its timer, so an idle process is not kept alive by it
      clearRealTimeout(this.timer);
      this.timer = undefined;
      this.first = this.last = undefined;
    } else {
      // answers come mostly in order: the settled calls at the head leave as they settle (calls
      // still waiting may be none of the queue's, but those due, awaiting their verdict)
      while (this.first?.settled) this.first = this.first.next;
      if (this.first === undefined) this.last = undefined;
    }
    return true;
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    const due: Waiting[] = [];
    let call = this.first;
    while (call !== undefined && (call.settled || call.dueAt <= now)) {
      if (!call.settled) due.push(call);
      call = call.next;
    }
    this.first = call;
    if (call === undefined) this.last = undefined;
    // the timers' clock (the event loop's, read once per turn) may lag this one: never early
    else this.timer = setRealTimeout(this.expire, Math.max(1, Math.ceil(call.dueAt - now)));
    if (due.length > 0) setRealImmediate(this.timedOut, due);
  };

  private readonly timedOut = (due: readonly Waiting[]): void => {
    for (const call of due) {
      if (this.settle(call)) {
        call.finish(new StoreError('ERR_STORE_TIMEOUT', `${this.who} did not answer within ${this.ms} ms`), true);
      }
    }
  };
}

/**
 * Rejects when `who` has not answered within `ms`: for a call of its own deadline (a resolver's), made
 * seldom; the store's calls share a queue (`Deadlines`). The verdict waits one turn of the event loop
 * past the timer, so a reply that arrived while this process was busy is not mistaken for a timeout.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, who = 'the store'): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (!settled) reject(new StoreError('ERR_STORE_TIMEOUT', `${who} did not answer within ${ms} ms`));
      });
    }, ms);
    promise.then(
      (value) => {
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
