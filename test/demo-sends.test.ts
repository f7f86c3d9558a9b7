import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createDemoApp } from '../demo/app.js';
import { stateOf } from '../demo/im-state.js';
import { MemoryStore } from '../src/index.js';
import { FakeClock } from './helpers.js';

/**
 * A community demo (20,000 pushes a day) on a fake clock, and what a send does: the pushes the
 * limiter counted for it (its daily window before and after) and the deliveries the demo made.
 */
function demo(app: string) {
  const clock = new FakeClock();
  const { app: server, limiter } = createDemoApp({
    edition: 'community',
    store: new MemoryStore({ clock: clock.now }),
  });
  const appKey = `acme#${app}`;
  const used = async (): Promise<number> => (await limiter.inspect(appKey)).daily?.used ?? Number.NaN;
  const send = async (path: string, body: object) => {
    clock.advance(1000); // the messages bucket full again: only the daily window counts
    const before = { pushes: await used(), deliveries: stateOf(appKey).messages.length };
    const answer = await request(server).post(`/acme/${app}/${path}`).send(body);
    return {
      answer,
      pushes: (await used()) - before.pushes,
      deliveries: stateOf(appKey).messages.slice(before.deliveries),
    };
  };
  return { server, send };
}

const users = ['alice', 'bob', 'carol'];
const listed = Array.from({ length: 600 }, (_, i) => `user${i}`);

describe('the demo IM server delivers what the limiter counts', () => {
  it('a broadcast without a list: one push counted, one delivery to every user of the app', async () => {
    const { server, send } = demo('broadcast');
    await request(server)
      .post('/acme/broadcast/users')
      .send(users.map((username) => ({ username })))
      .expect(200);
    for (const path of ['messages/users/broadcast', 'messages/broadcast']) {
      const body = path === 'messages/broadcast' ? { msg: { type: 'txt', msg: 'hi' } } : { body: { msg: 'hi' } };
      const { answer, pushes, deliveries } = await send(path, body);
      expect(answer.status, path).toBe(200);
      expect({ pushes, deliveries: deliveries.map((d) => d.to) }, path).toStrictEqual({
        pushes: 1,
        deliveries: [users],
      });
      expect(answer.body.data).toStrictEqual({ id: deliveries[0]?.id });
    }
    expect((await request(server).get('/acme/broadcast/users/bob/offline_msg_count')).body.data).toStrictEqual({
      bob: 2,
    });
  });

  it('a chat-room broadcast: one push counted, one delivery to every chat room of the app', async () => {
    const { server, send } = demo('rooms');
    const created = await request(server).post('/acme/rooms/chatrooms').send({ name: 'r', owner: 'alice' }).expect(200);
    const { answer, pushes, deliveries } = await send('messages/chatrooms/broadcast', { body: { msg: 'hi' } });
    expect(answer.status).toBe(200);
    expect({ pushes, deliveries: deliveries.map((d) => d.to) }).toStrictEqual({
      pushes: 1,
      deliveries: [[created.body.data.id]],
    });
  });

  it.each([
    ['messages/users/broadcast', { to: listed, body: { msg: 'hi' } }, 'to'],
    ['messages/chatrooms/broadcast', { to: listed, body: { msg: 'hi' } }, 'to'],
    ['messages/broadcast', { target: listed, msg: { type: 'txt', msg: 'hi' } }, 'target'],
  ] as const)('%s with a list of 600 is refused 400 and delivers nothing', async (path, body, field) => {
    const { send } = demo('listed');
    const { answer, pushes, deliveries } = await send(path, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toStrictEqual({
      error: 'illegal_argument',
      exception: 'IllegalArgumentException',
      timestamp: expect.any(Number),
      duration: 0,
      error_description: `a broadcast goes to the whole app: it takes no ${field}`,
    });
    // the limiter admitted the call and counted its one push, as for any call the server then refuses
    expect({ pushes, deliveries: deliveries.length }).toStrictEqual({ pushes: 1, deliveries: 0 });
  });

  it('every send route: deliveries equal the pushes counted, and a send that names nobody is refused', async () => {
    const { send } = demo('every');
    const cases: Array<[string, object, number]> = [
      ['messages', { target: ['a', 'b', 'c'], msg: { type: 'txt', msg: 'hi' } }, 3],
      ['messages/users', { to: ['a', 'b', 'c', 'a'], body: { msg: 'hi' } }, 4],
      ['messages/chatgroups', { to: ['g1', 'g2'], body: { msg: 'hi' } }, 2],
      ['messages/chatrooms', { to: ['r1'], body: { msg: 'hi' } }, 1],
      ['messages/chatgroups/users', { to: ['g1', 'g2'], users: ['a', 'b', 'c'], body: { msg: 'hi' } }, 6],
      ['messages/chatrooms/users', { to: ['r1'], users: ['a', 'b'], body: { msg: 'hi' } }, 2],
      ['messages/chatgroups/users', { to: ['g1', 'g2'], body: { msg: 'hi' } }, 2],
    ];
    for (const [path, body, expected] of cases) {
      const { answer, pushes, deliveries } = await send(path, body);
      expect({ status: answer.status, pushes, deliveries: deliveries.length }, path).toStrictEqual({
        status: 200,
        pushes: expected,
        deliveries: expected,
      });
    }
    for (const path of ['messages', 'messages/users', 'messages/chatgroups/users']) {
      const { answer, pushes, deliveries } = await send(path, {});
      expect(
        { status: answer.status, error: answer.body.error, pushes, deliveries: deliveries.length },
        path,
      ).toStrictEqual({
        status: 400,
        error: 'illegal_argument',
        pushes: 1,
        deliveries: 0,
      });
    }
  });
});
