import { describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/membership/memory-ledger.js';
import { FakeClock } from '../helpers.js';

const HOLD_MS = 60_000;

describe('MemoryLedger keeps no empty state', () => {
  it('is empty again after 20,000 reserve-then-release cycles on invented apps', () => {
    // on a clock that stands still no sweep comes due: what a cycle left behind stays to be counted
    const ledger = new MemoryLedger({ clock: new FakeClock().now });
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const app = `org#app-${i}`;
      if (ledger.reserve(app, 'groups', `g${i}`, [`u${i}`, 'shared'], 500, HOLD_MS).refused !== undefined) refused++;
      ledger.release(app, 'groups', `g${i}`, [`u${i}`, 'shared']);
    }
    expect(refused).toBe(0);
    expect(ledger.size).toBe(0);
  });

  it('is empty again once every membership has gone, whichever way it went', () => {
    const clock = new FakeClock();
    const ledger = new MemoryLedger({ clock: clock.now });
    for (let i = 0; i < 1000; i++) {
      const app = `org#app-${i}`;
      ledger.reserve(app, 'groups', 'g1', ['a', 'b'], 500, HOLD_MS);
      ledger.confirm(app, 'groups', 'g1', ['a', 'b']);
      ledger.leave(app, 'groups', 'g1', ['a']);
      ledger.reserve(app, 'groups', 'token', ['c'], 500, HOLD_MS);
      ledger.rename(app, 'groups', 'token', 'g2', ['c']);
      ledger.reserve(app, 'chatrooms', 'r1', ['a'], 500, HOLD_MS);
      ledger.reserve(app, 'chatrooms', 'r1', ['a'], 500, HOLD_MS); // held twice
      ledger.confirm(app, 'chatrooms', 'r1', ['a']);
      ledger.release(app, 'chatrooms', 'r1', ['a']);
      expect(ledger.size).toBe(2); // this app's groups and chat rooms; the apps before it left nothing
      ledger.dissolve(app, 'groups', 'g1');
      ledger.forget(app, 'groups', 'c');
      ledger.forget(app, 'chatrooms', 'a');
    }
    expect(ledger.size).toBe(0);
    ledger.reserve('org#lapsed', 'groups', 'g1', ['d'], 500, HOLD_MS);
    clock.advance(HOLD_MS);
    expect(ledger.reserve('org#lapsed', 'groups', 'g2', ['d'], 1, HOLD_MS)).toEqual({ added: ['d'] }); // g1 purged
    ledger.release('org#lapsed', 'groups', 'g2', ['d']);
    expect(ledger.size).toBe(0);
  });

  it('sweeps out holds that lapsed for users who never join again (a handler that never answers)', () => {
    const clock = new FakeClock();
    const ledger = new MemoryLedger({ clock: clock.now });
    for (let i = 0; i < 10_000; i++) ledger.reserve(`org#invented-${i}`, 'groups', `g${i}`, [`u${i}`], 500, 1000);
    expect(ledger.size).toBe(10_000);
    clock.advance(10_000); // every hold has lapsed, and a sweep is due
    ledger.reserve('org#real', 'groups', 'g', ['bob'], 500, 1000);
    expect(ledger.size).toBe(1);
  });
});
