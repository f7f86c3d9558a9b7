import { randomUUID } from 'node:crypto';
import { MemoryStore, RedisStore } from '../../src/index.js';
import type { Store } from '../../src/store/index.js';
import { FakeClock } from '../helpers.js';
import { singleClient } from './clients.js';

export interface StoreUnderTest {
  readonly clock: FakeClock;
  readonly store: Store;
  /** An app name no other test has used: Redis keeps state between tests. */
  readonly app: string;
  /** What a second server process would use: another RedisStore on the same Redis; the MemoryStore itself. */
  readonly twin: Store;
}

/** Both stores, each driven by a fake clock (RedisStore takes it instead of Redis TIME). Call at file scope. */
export function bothStores(): Array<[string, () => StoreUnderTest]> {
  const client = singleClient();
  const app = () => `app-${randomUUID().slice(0, 8)}`;
  return [
    [
      'MemoryStore',
      () => {
        const clock = new FakeClock();
        const store = new MemoryStore({ clock: clock.now });
        return { clock, store, twin: store, app: app() };
      },
    ],
    [
      'RedisStore',
      () => {
        const clock = new FakeClock();
        const store = () => new RedisStore({ client, clock: clock.now });
        return { clock, store: store(), twin: store(), app: app() };
      },
    ],
  ];
}
