import { afterEach, describe, expect, it, vi } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { Deadlines } from '../../src/store/deadlines.js';
import { Failover, FailoverStore } from '../../src/store/failover-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Check, Reading, Store } from '../../src/store/store.js';

/** A promise and the means to settle it from outside, as a store's reply would. */
function reply<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What a race came to: `then <value>`, or `fail <code or error>`. */
const raced = (deadlines: Deadlines, promise: Promise<string>): Promise<string> =>
  deadlines.race(
    promise,
    (value) => `then ${value}`,
    (error) => `fail ${error instanceof StoreError ? error.code : String(error)}`,
  );

/**
 * The timers alive in this process (Node's own count, whoever set them: vitest too, between turns;
 * so it is compared only across code that runs without yielding to it).
 */
const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

/** Holds the event loop for `ms`: whatever falls due meanwhile is found due at once afterwards. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy, as a process answering a burst of requests is
  }
}

const MS = 20;

afterEach(() => {
  vi.useRealTimers();
});

describe('Deadlines', () => {
  it('hands an answer within the time to then, and leaves no timer behind', async () => {
    const before = timers();
    const { promise, resolve } = reply<string>();
    const outcome = raced(new Deadlines(MS), promise);
    expect(timers()).toBe(before + 1);
    const waiting = timers();
    resolve('ok'); // settled in the microtasks that follow: nothing else runs between
    expect(await outcome.then((value) => [value, timers()])).toEqual(['then ok', waiting - 1]);
  });

  it('hands a rejection to fail as it is', async () => {
    const { promise, reject } = reply<string>();
    const outcome = raced(new Deadlines(MS), promise);
    reject(new Error('boom'));
    expect(await outcome).toBe('fail Error: boom');
  });

  it('fails a call unanswered within the time with ERR_STORE_TIMEOUT, naming who did not answer', async () => {
    const { promise, resolve } = reply<string>();
    const failed = await new Deadlines(MS, 'the ledger').race(promise, String, (error) => error);
    expect(failed).toEqual(new StoreError('ERR_STORE_TIMEOUT', `the ledger did not answer within ${MS} ms`));
    resolve('late'); // and its answer after that changes nothing
  });

  it('does not take an answer that came in while the process was busy for a timeout', async () => {
    const { promise, resolve } = reply<string>();
    const outcome = raced(new Deadlines(MS), promise);
    busyFor(MS + 5); // past the deadline, with the answer arriving meanwhile…
    setImmediate(() => resolve('just in time')); // …as a reply read in this turn of the event loop
    expect(await outcome).toBe('then just in time');
  });

  it('keeps one timer for any number of calls waiting, and fails exactly those unanswered', async () => {
    const before = timers();
    const deadlines = new Deadlines(MS);
    const replies = Array.from({ length: 100 }, () => reply<string>());
    const outcomes = replies.map(({ promise }) => raced(deadlines, promise));
    expect(timers()).toBe(before + 1); // a timer per call before
    replies.forEach(({ resolve }, i) => {
      if (i % 3 === 0) resolve(String(i));
    });
    expect(await Promise.all(outcomes)).toEqual(
      replies.map((_, i) => (i % 3 === 0 ? `then ${i}` : 'fail ERR_STORE_TIMEOUT')),
    );
  });

  it('times a call made while another awaits its verdict and every other call has been answered', async () => {
    const deadlines = new Deadlines(MS);
    const first = raced(deadlines, reply<string>().promise);
    let hanging: Promise<string> | undefined;
    // fires right after the queue's timer, in the same turn: the first call is due, its verdict not given
    setTimeout(() => {
      void raced(deadlines, Promise.resolve('ok')).then(() => {
        hanging = raced(deadlines, reply<string>().promise);
      });
    }, MS);
    busyFor(MS + 5);
    expect(await first).toBe('fail ERR_STORE_TIMEOUT');
    await vi.waitUntil(() => hanging !== undefined);
    expect(await hanging).toBe('fail ERR_STORE_TIMEOUT');
  });

  it('rejects when then or fail throws', async () => {
    const settled = new Deadlines(MS).race(
      Promise.resolve('ok'),
      () => {
        throw new Error('in then');
      },
      () => 'never',
    );
    await expect(settled).rejects.toThrow('in then');
  });

  it("under a test's fake timers, gives each call a timer of its own, which the fake clock moves exactly", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate'] });
    const deadlines = new Deadlines(50);
    const outcomes: string[] = [];
    void raced(deadlines, reply<string>().promise).then((outcome) => outcomes.push(`first ${outcome}`));
    await vi.advanceTimersByTimeAsync(30);
    void raced(deadlines, reply<string>().promise).then((outcome) => outcomes.push(`second ${outcome}`));
    await vi.advanceTimersByTimeAsync(21); // 51: the first is past its 50 ms (and its verdict's turn)
    expect(outcomes).toEqual(['first fail ERR_STORE_TIMEOUT']);
    await vi.advanceTimersByTimeAsync(30); // 81: the second too
    expect(outcomes).toEqual(['first fail ERR_STORE_TIMEOUT', 'second fail ERR_STORE_TIMEOUT']);
  });
});

describe('the failover', () => {
  /** A store whose every call waits until the test answers it. */
  class WaitingStore implements Store {
    readonly replies: Array<ReturnType<typeof reply<readonly Reading[]>>> = [];
    take(_checks: readonly Check[]): Promise<readonly Reading[]> {
      const next = reply<readonly Reading[]>();
      this.replies.push(next);
      return next.promise;
    }
  }
  const check: Check = { type: 'bucket', key: 'imrl:{acme#chat}:users:rate', capacity: 10, intervalMs: 100, cost: 1 };

  it('times every store call with one timer, however many wait, and goes to the policy for each that times out', async () => {
    const before = timers();
    const store = new WaitingStore();
    const failover = new Failover({ timeoutMs: MS, policy: 'fallback', logger: { warn() {} } });
    const failoverStore = new FailoverStore(store, failover, 1);
    const answers = Array.from({ length: 20 }, () => failoverStore.take([check]));
    expect(timers()).toBe(before + 1); // a timer per call before
    const reading: Reading = { allowed: true, remaining: 9, resetMs: 100, retryAfterMs: 0 };
    store.replies.forEach(({ resolve }, i) => {
      if (i < 10) resolve([reading]);
    });
    const settled = await Promise.all(answers);
    expect(settled.slice(0, 10)).toEqual(Array(10).fill([reading]));
    // the rest timed out: the store is down, and the first of them was decided on this process's fallback buckets
    expect(settled[10]).toEqual(new MemoryStore().take([check]));
    expect(failover.degraded).toBe(true);
  });
});
