import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MembershipKind } from '../../src/limits/routes.js';
import type { MembershipLedger } from '../../src/store/index.js';
import { FakeClock } from '../helpers.js';

const HOLD_MS = 60_000;

/**
 * The ledger contract (ARCHITECTURE.md → The ledger contract): every ledger, fed the same
 * operations at the same (fake) times, holds the same memberships. `makeLedger` builds a ledger
 * that reads time from the clock it is given. Counts are read through the port alone, so the suite
 * holds any ledger to it.
 */
export function ledgerContract(name: string, makeLedger: (clock: () => number) => MembershipLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const setup = () => {
      const clock = new FakeClock();
      const ledger = makeLedger(clock.now);
      const app = `acme#app-${randomUUID()}`; // Redis keeps state between tests
      const reserve = async (group: string, users: string[], max: number, kind: MembershipKind = 'groups') =>
        ledger.reserve(app, kind, group, users, max, HOLD_MS);
      const confirm = async (group: string, users: string[], kind: MembershipKind = 'groups') =>
        ledger.confirm(app, kind, group, users);
      const release = async (group: string, users: string[], kind: MembershipKind = 'groups') =>
        ledger.release(app, kind, group, users);
      /** Joins and confirms at once, as a 2xx answer does. */
      const join = async (group: string, users: string[], kind: MembershipKind = 'groups') => {
        expect(await reserve(group, users, 1_000, kind)).toEqual({ added: users });
        await confirm(group, users, kind);
      };
      /** How many groups count for `user`: the least cap at which a fresh group is still refused. */
      const countOf = async (user: string, kind: MembershipKind = 'groups'): Promise<number> => {
        for (let max = 1; ; max++) {
          const probe = `probe-${randomUUID()}`;
          if ((await reserve(probe, [user], max, kind)).refused === undefined) {
            await release(probe, [user], kind);
            return max - 1;
          }
        }
      };
      return { clock, ledger, app, reserve, confirm, release, join, countOf };
    };

    it('holds users up to the cap and refuses the next join, changing nothing', async () => {
      const { reserve, confirm, countOf } = setup();
      for (const group of ['g1', 'g2', 'g3']) expect(await reserve(group, ['ann'], 3)).toEqual({ added: ['ann'] });
      expect(await reserve('g4', ['ann'], 3)).toEqual({ refused: 'ann' });
      expect(await countOf('ann')).toBe(3);
      await confirm('g1', ['ann']);
      expect(await reserve('g1', ['ann'], 3)).toEqual({ added: ['ann'] }); // a member already: held, not counted twice
      expect(await countOf('ann')).toBe(3);
    });

    it('keeps the slot of a re-join racing a leave until the re-join is answered', async () => {
      const { reserve, confirm, release, join, countOf, ledger, app } = setup();
      const leave = (group: string) => ledger.leave(app, 'groups', group, ['bob']);
      await join('g1', ['bob']);
      await join('g2', ['bob']);
      expect(await reserve('g1', ['bob'], 2)).toEqual({ added: ['bob'] }); // a re-join in flight
      await leave('g1'); // answered 2xx meanwhile: the IM server may still apply the re-join after it
      expect(await reserve('g3', ['bob'], 2)).toEqual({ refused: 'bob' });
      await confirm('g1', ['bob']); // the re-join answered 2xx: bob is in g1 again
      expect(await countOf('bob')).toBe(2);
      expect(await reserve('g3', ['bob'], 2)).toEqual({ refused: 'bob' });
      // the same race, the re-join refused: bob is out of g1 (he left)
      expect(await reserve('g2', ['bob'], 2)).toEqual({ added: ['bob'] });
      await leave('g2');
      await release('g2', ['bob']);
      expect(await countOf('bob')).toBe(1);
      // a re-join refused with no leave between: bob stays the member he was
      expect(await reserve('g1', ['bob'], 2)).toEqual({ added: ['bob'] });
      await release('g1', ['bob']);
      expect(await countOf('bob')).toBe(1);
    });

    it('refuses a batch whole when one user is at the cap: the others are not held', async () => {
      const { reserve, join, countOf } = setup();
      await join('g1', ['cat']);
      await join('g2', ['cat']);
      expect(await reserve('g3', ['amy', 'bo', 'cat'], 2)).toEqual({ refused: 'cat' });
      expect([await countOf('amy'), await countOf('bo'), await countOf('cat')]).toEqual([0, 0, 2]);
      expect(await reserve('g3', ['amy', 'bo'], 2)).toEqual({ added: ['amy', 'bo'] });
    });

    it('releases a hold, but not a confirmed membership', async () => {
      const { reserve, confirm, release, countOf } = setup();
      await reserve('g1', ['dan'], 5);
      await reserve('g2', ['dan'], 5);
      await release('g1', ['dan']);
      expect(await countOf('dan')).toBe(1);
      await confirm('g2', ['dan']);
      await release('g2', ['dan']); // a late refusal of another join: the membership stays
      expect(await countOf('dan')).toBe(1);
    });

    it('holds a user twice for two joins in flight: each answer settles only its own hold', async () => {
      const { reserve, confirm, release, countOf } = setup();
      expect(await reserve('g1', ['eve'], 5)).toEqual({ added: ['eve'] });
      expect(await reserve('g1', ['eve'], 5)).toEqual({ added: ['eve'] });
      await release('g1', ['eve']);
      expect(await countOf('eve')).toBe(1);
      await release('g1', ['eve']);
      expect(await countOf('eve')).toBe(0);

      await reserve('g2', ['eve'], 5);
      await reserve('g2', ['eve'], 5);
      await confirm('g2', ['eve']);
      await release('g2', ['eve']);
      expect(await countOf('eve')).toBe(1);
    });

    it('renames a created group: its holds become memberships under the real ID', async () => {
      const { ledger, app, reserve, countOf } = setup();
      const token = `pending-${randomUUID()}`;
      expect(await reserve(token, ['fay', 'gus'], 5)).toEqual({ added: ['fay', 'gus'] });
      await ledger.rename(app, 'groups', token, 'g-42', ['fay', 'gus']);
      expect([await countOf('fay'), await countOf('gus')]).toEqual([1, 1]);
      // a member of g-42, confirmed: at her cap of 1 a re-join of g-42 passes, the token is no group of hers
      expect(await reserve('g-42', ['fay'], 1)).toEqual({ added: ['fay'] });
      await ledger.release(app, 'groups', 'g-42', ['fay']);
      expect(await countOf('fay')).toBe(1);
      expect(await reserve(token, ['fay'], 1)).toEqual({ refused: 'fay' });
      await ledger.dissolve(app, 'groups', 'g-42');
      expect([await countOf('fay'), await countOf('gus')]).toEqual([0, 0]);
    });

    it('dissolves a group for every member, held or confirmed; a late confirmation brings no one back', async () => {
      const { ledger, app, reserve, confirm, join, countOf } = setup();
      await join('g1', ['hal', 'ida']);
      await join('g2', ['hal']);
      expect(await reserve('g1', ['jo'], 5)).toEqual({ added: ['jo'] }); // a join in flight
      await ledger.dissolve(app, 'groups', 'g1');
      await confirm('g1', ['jo']); // the IM server added jo before it dissolved g1
      expect([await countOf('hal'), await countOf('ida'), await countOf('jo')]).toEqual([1, 0, 0]);
      expect(await reserve('g1', ['jo'], 1)).toEqual({ added: ['jo'] }); // not a member of g1
    });

    it('forgets a user: out of every group of the kind, other members and kinds untouched', async () => {
      const { ledger, app, reserve, join, countOf } = setup();
      await join('g1', ['kai', 'lea']);
      await join('g2', ['kai']);
      await reserve('g3', ['kai'], 5);
      await join('r1', ['kai'], 'chatrooms');
      await ledger.forget(app, 'groups', 'kai');
      expect([await countOf('kai'), await countOf('lea'), await countOf('kai', 'chatrooms')]).toEqual([0, 1, 1]);
      expect(await reserve('g1', ['kai'], 1)).toEqual({ added: ['kai'] }); // not a member of g1
      await ledger.dissolve(app, 'groups', 'g1');
      expect(await countOf('lea')).toBe(0);
    });

    it('lets a hold lapse after holdMs unless confirmed; a late answer changes nothing', async () => {
      const { clock, reserve, confirm, release, countOf } = setup();
      await reserve('g1', ['max'], 5);
      await reserve('g2', ['max'], 5);
      await reserve('g3', ['max'], 5);
      await confirm('g3', ['max']);
      clock.advance(HOLD_MS - 1);
      expect(await countOf('max')).toBe(3);
      clock.advance(1);
      expect(await countOf('max')).toBe(1); // g1 and g2 lapsed at their deadline; g3 was confirmed
      await confirm('g1', ['max']);
      await release('g2', ['max']);
      expect(await countOf('max')).toBe(1);
    });

    it('lapses even before any reservation purges it: a confirmation past the deadline does not count', async () => {
      const { clock, reserve, confirm, countOf } = setup();
      await reserve('g1', ['ned'], 5);
      clock.advance(HOLD_MS);
      await confirm('g1', ['ned']);
      expect(await countOf('ned')).toBe(0);
    });

    it('keeps a hold held twice until the later deadline', async () => {
      const { clock, reserve, release, countOf } = setup();
      await reserve('g1', ['oli'], 5);
      clock.advance(HOLD_MS / 2);
      await reserve('g1', ['oli'], 5);
      clock.advance(HOLD_MS / 2);
      await release('g1', ['oli']);
      expect(await countOf('oli')).toBe(1);
      clock.advance(HOLD_MS / 2 - 1);
      expect(await countOf('oli')).toBe(1);
      clock.advance(1);
      expect(await countOf('oli')).toBe(0);
    });

    it('lets exactly 10 of 50 concurrent joins through for a user 10 short of the cap', async () => {
      const { reserve, join, countOf } = setup();
      for (let i = 0; i < 10; i++) await join(`old-${i}`, ['pia']);
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => reserve(`new-${i}`, ['pia'], 20)));
      expect(results.filter((r) => r.refused === undefined)).toHaveLength(10);
      expect(results.filter((r) => r.refused === 'pia')).toHaveLength(40);
      expect(await countOf('pia')).toBe(20);
    });

    it('settles concurrent reserve-then-answer sequences exactly', async () => {
      const { reserve, confirm, release, countOf } = setup();
      // 60 sequences on 30 groups, two joins each: both refused, one of each, or both accepted
      const accepts = (group: number, first: boolean): boolean => group % 3 === 2 || (group % 3 === 1 && first);
      const joins = Array.from({ length: 60 }, (_, i) => ({ group: `g${i % 30}`, first: i < 30 }));
      const reservations = await Promise.all(joins.map(({ group }) => reserve(group, ['quin'], 100)));
      expect(reservations).toEqual(joins.map(() => ({ added: ['quin'] })));
      await Promise.all(
        joins.map(({ group, first }, i) =>
          accepts(i % 30, first) ? confirm(group, ['quin']) : release(group, ['quin']),
        ),
      );
      expect(await countOf('quin')).toBe(20);
    });

    it('admits no more than the cap while holds are released and taken concurrently', async () => {
      const { reserve, confirm, release, join, countOf } = setup();
      for (let i = 0; i < 10; i++) await join(`old-${i}`, ['rae']);
      let confirmed = 0;
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const reservation = await reserve(`new-${i}`, ['rae'], 20);
          if (reservation.refused !== undefined) return;
          if (i % 2 === 0) {
            await confirm(`new-${i}`, ['rae']);
            confirmed++;
          } else await release(`new-${i}`, ['rae']);
        }),
      );
      expect(confirmed).toBeGreaterThan(0);
      expect(confirmed).toBeLessThanOrEqual(10);
      expect(await countOf('rae')).toBe(10 + confirmed);
    });
  });
}
