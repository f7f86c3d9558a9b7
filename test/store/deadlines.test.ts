import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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

/** What a race came to: the value `then` made, or the code or message of what `fail` was given. */
const outcomeOf = (deadlines: Deadlines, promise: Promise<string>) => {
  const outcome: { value?: string } = {};
  void deadlines.race(
    promise,
    (value) => {
      outcome.value = `then ${value}`;
    },
    (error) => {
      outcome.value = `fail ${error instanceof StoreError ? error.code : String(error)}`;
    },
  );
  return outcome;
};

/** The turn of the event loop a timeout's verdict waits for, past its timer (a fake `setImmediate`). */
const nextTurn = () => vi.advanceTimersToNextTimerAsync();

// the timers are fake (the process's monotonic clock is not): each deadline is found by its timer
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Deadlines', () => {
  it('hands an answer within the time to then, and leaves no timer behind', async () => {
    const deadlines = new Deadlines(50);
    const { promise, resolve } = reply<string>();
    const outcome = outcomeOf(deadlines, promise);
    expect(vi.getTimerCount()).toBe(1);
    resolve('ok');
    await vi.advanceTimersByTimeAsync(0);
    expect(outcome.value).toBe('then ok');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('hands a rejection to fail as it is', async () => {
    const deadlines = new Deadlines(50);
    const { promise, reject } = reply<string>();
    const outcome = outcomeOf(deadlines, promise);
    reject(new Error('boom'));
    await vi.advanceTimersByTimeAsync(0);
    expect(outcome.value).toBe('fail Error: boom');
  });

  it('fails a call unanswered after the time with ERR_STORE_TIMEOUT, and ignores its answer after that', async () => {
    const deadlines = new Deadlines(50, 'the ledger');
    const { promise, resolve } = reply<string>();
    let error: unknown;
    const settled = deadlines.race(promise, String, (e) => {
      error = e;
      return 'failed';
    });
    await vi.advanceTimersByTimeAsync(49);
    expect(error).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(error).toBeUndefined(); // the timer has fired: its verdict waits a turn
    await nextTurn();
    expect(error).toEqual(new StoreError('ERR_STORE_TIMEOUT', 'the ledger did not answer within 50 ms'));
    resolve('late');
    expect(await settled).toBe('failed');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not take an answer that came in while the process was busy for a timeout: the verdict waits a turn', async () => {
    const deadlines = new Deadlines(50);
    const { promise, resolve } = reply<string>();
    const outcome = outcomeOf(deadlines, promise);
    vi.advanceTimersByTime(50); // the timer fires; its verdict waits for the next turn…
    resolve('just in time'); // …by which the answer that arrived meanwhile is taken
    await nextTurn();
    expect(outcome.value).toBe('then just in time');
  });

  it('keeps one timer for any number of calls waiting, and fails exactly those unanswered', async () => {
    const deadlines = new Deadlines(50);
    const replies = Array.from({ length: 100 }, () => reply<string>());
    const outcomes = replies.map(({ promise }) => outcomeOf(deadlines, promise));
    expect(vi.getTimerCount()).toBe(1);
    replies.forEach(({ resolve }, i) => {
      if (i % 3 === 0) resolve(String(i));
    });
    // the calls were made over some real time, which the fake timers do not show: twice the time
    await vi.advanceTimersByTimeAsync(100);
    await nextTurn();
    expect(outcomes.map((o) => o.value)).toEqual(
      replies.map((_, i) => (i % 3 === 0 ? `then ${i}` : 'fail ERR_STORE_TIMEOUT')),
    );
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a call made once the others timed out gets a deadline, and a timer, of its own', async () => {
    const deadlines = new Deadlines(50);
    const first = outcomeOf(deadlines, reply<string>().promise);
    await vi.advanceTimersByTimeAsync(50);
    await nextTurn();
    expect(first.value).toBe('fail ERR_STORE_TIMEOUT');
    const later = reply<string>();
    const second = outcomeOf(deadlines, later.promise);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(49);
    expect(second.value).toBeUndefined();
    later.resolve('ok');
    await vi.advanceTimersByTimeAsync(0);
    expect(second.value).toBe('then ok');
  });

  it('rejects when then or fail throws', async () => {
    const deadlines = new Deadlines(50);
    const settled = deadlines.race(
      Promise.resolve('ok'),
      () => {
        throw new Error('in then');
      },
      () => 'never',
    );
    await expect(settled).rejects.toThrow('in then');
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
    const store = new WaitingStore();
    const failover = new Failover({ timeoutMs: 50, policy: 'fallback', logger: { warn() {} } });
    const failoverStore = new FailoverStore(store, failover, 1);
    const answers = Array.from({ length: 20 }, () => failoverStore.take([check]));
    expect(vi.getTimerCount()).toBe(1); // a timer per call before
    const reading: Reading = { allowed: true, remaining: 9, resetMs: 100, retryAfterMs: 0 };
    store.replies.forEach(({ resolve }, i) => {
      if (i < 10) resolve([reading]);
    });
    await vi.advanceTimersByTimeAsync(100); // as above: the calls were made over some real time
    await nextTurn();
    const settled = await Promise.all(answers);
    expect(settled.slice(0, 10)).toEqual(Array(10).fill([reading]));
    // the rest timed out: the store is down, and each was decided on this process's fallback buckets
    const fallback = new MemoryStore().take([check]) as readonly Reading[];
    expect(settled[10]).toEqual(fallback);
    expect(failover.degraded).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
