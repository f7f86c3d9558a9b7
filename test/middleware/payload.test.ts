import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { clockedApp } from '../helpers.js';
import { expressVersions } from '../support/express.js';

const errorOf = (text: string) => {
  const { error, exception, duration, error_description } = JSON.parse(text);
  return { error, exception, duration, error_description };
};

describe.each(expressVersions)('$name', ({ express }) => {
  describe.each([
    ["the limiter runs the app's parser", false],
    ['express.json() ran first', true],
  ])('payload limits (%s)', (_, jsonFirst) => {
    const fresh = () => clockedApp({ express, jsonFirst, edition: 'enterprise' }).app;
    const id = (chars: number, unit = 'a') => unit.repeat(chars);

    it.each([
      ['ASCII', 'a'],
      ['CJK, 3 bytes each', '你'],
      ['emoji, 2 UTF-16 units each', '😀'],
    ])('user IDs: 64 characters pass and 65 fail (%s)', async (_, unit) => {
      const app = fresh();
      expect(
        (
          await request(app)
            .post('/acme/chat/users')
            .send({ username: id(64, unit), password: 'p' })
        ).status,
      ).toBe(200);
      const refused = await request(app)
        .post('/acme/chat/users')
        .send({ username: id(65, unit), password: 'p' });
      expect(refused.status).toBe(400);
      expect(errorOf(refused.text)).toEqual({
        error: 'illegal_argument',
        exception: 'IllegalArgumentException',
        duration: 0,
        error_description: `username ${id(65, unit)} is longer than 64 characters`,
      });
      // in the path, on users and contacts routes
      const long = encodeURIComponent(id(65, unit));
      expect((await request(app).get(`/acme/chat/users/${encodeURIComponent(id(64, unit))}`)).status).toBe(200);
      expect((await request(app).get(`/acme/chat/users/${long}`)).status).toBe(400);
      expect((await request(app).post(`/acme/chat/users/alice/contacts/users/${long}`)).status).toBe(400);
      expect(
        (
          await request(app)
            .post('/acme/chat/users/batch/status')
            .send({ usernames: ['a', id(65, unit)] })
        ).status,
      ).toBe(400);
    });

    it('bulk registration: 60 users pass, 61 fail, and any long ID in the batch fails it', async () => {
      const app = fresh();
      const users = (n: number) => Array.from({ length: n }, (_, i) => ({ username: `user${i}`, password: 'p' }));
      const ok = await request(app).post('/acme/chat/users').send(users(60));
      expect(ok.status).toBe(200);
      expect(ok.body.body).toHaveLength(60); // the handler got the body, read once
      const refused = await request(app).post('/acme/chat/users').send(users(61));
      expect(refused.status).toBe(400);
      expect(errorOf(refused.text).error_description).toBe('bulk registration accepts at most 60 users, got 61');
      const withLong = [...users(3), { username: id(65), password: 'p' }];
      expect((await request(app).post('/acme/chat/users').send(withLong)).status).toBe(400);
    });

    it('messages: 4096 bytes of msg + ext pass, 4097 fail, on every send route', async () => {
      const app = fresh();
      // {"type":"txt","msg":"…"} is 23 bytes of JSON around the text; {"k":"…"} is 8 around ext's.
      // The legacy API names recipients and message `target` and `msg`, the current one `to` and `body`.
      let legacy = false;
      const body = (textBytes: number, ext?: string) => ({
        [legacy ? 'target' : 'to']: ['bob'],
        [legacy ? 'msg' : 'body']: {
          type: 'txt',
          msg: `${'你'.repeat(Math.floor(textBytes / 3))}${'a'.repeat(textBytes % 3)}`,
        },
        ...(ext === undefined ? {} : { ext: { k: ext } }),
      });
      for (const route of [
        'messages/users',
        'messages/chatgroups',
        'messages/chatrooms',
        'messages/users/broadcast',
        'messages',
        'messages/broadcast',
      ]) {
        legacy = route === 'messages' || route === 'messages/broadcast';
        expect(
          (
            await request(app)
              .post(`/acme/chat/${route}`)
              .send(body(4096 - 23))
          ).status,
        ).toBe(200);
        const refused = await request(app)
          .post(`/acme/chat/${route}`)
          .send(body(4097 - 23));
        expect(refused.status).toBe(400);
        expect(errorOf(refused.text)).toEqual({
          error: 'message_send_error',
          exception: 'MessageSendErrorException',
          duration: 0,
          error_description: 'message is too large: 4097 bytes, limit 4096',
        });
      }
      legacy = false;
      expect(
        (
          await request(app)
            .post('/acme/chat/messages/users')
            .send(body(2000, 'x'.repeat(4096 - 23 - 2000 - 8)))
        ).status,
      ).toBe(200);
      expect(
        (
          await request(app)
            .post('/acme/chat/messages/users')
            .send(body(2000, 'x'.repeat(4097 - 23 - 2000 - 8)))
        ).status,
      ).toBe(400);
    });

    it('bounds every list it reads before any store work, and refuses lists of the wrong type', async () => {
      const { app, store } = clockedApp({ express, jsonFirst, edition: 'enterprise' });
      const ids = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);
      const cases: Array<[string, string, unknown, string]> = [
        [
          'post',
          '/acme/chat/chatgroups/42/users',
          { usernames: ids(61) },
          'usernames accepts at most 60 user IDs, got 61',
        ],
        ['post', '/acme/chat/chatrooms/42/users', { usernames: 'bob' }, 'usernames must be a list of user IDs'],
        [
          'post',
          '/acme/chat/chatgroups',
          { owner: 'o', members: ids(61) },
          'members accepts at most 60 user IDs, got 61',
        ],
        ['post', '/acme/chat/chatgroups', { owner: 'o', members: [1, 2] }, 'members must be a list of user IDs'],
        ['post', '/acme/chat/chatgroups', { owner: ['o'], members: [] }, 'owner must be a user ID'],
        [
          'delete',
          `/acme/chat/chatgroups/42/users/${ids(61).join(',')}`,
          undefined,
          'username accepts at most 60 user IDs, got 61',
        ],
        [
          'post',
          '/acme/chat/chatgroups/42/users',
          { usernames: [id(65)] },
          `username ${id(65)} is longer than 64 characters`,
        ],
        [
          'post',
          '/acme/chat/users/batch/status',
          { usernames: ids(61) },
          'usernames accepts at most 60 user IDs, got 61',
        ],
        ['post', '/acme/chat/messages/users', { to: ids(601), body: {} }, 'to accepts at most 600 recipients, got 601'],
        ['post', '/acme/chat/messages', { target: { length: 5 }, msg: {} }, 'target must be a list of IDs'],
      ];
      for (const [method, path, body, description] of cases) {
        const refused = await request(app)
          [method as 'post'](path)
          .send(body as object);
        expect(refused.status, path).toBe(400);
        expect(errorOf(refused.text).error_description, path).toBe(description);
      }
      expect(store.size).toBe(0); // no bucket was touched
      expect(
        (
          await request(app)
            .post('/acme/chat/chatgroups/42/users')
            .send({ usernames: ids(60) })
        ).status,
      ).toBe(200);
    });

    it('counts against the daily quota the recipients of the field the route reads', async () => {
      const { app } = clockedApp({ express, jsonFirst });
      const legacy = await request(app)
        .post('/acme/chat/messages')
        .send({ target_type: 'users', target: Array.from({ length: 100 }, (_, i) => `u${i}`), msg: {} });
      expect(legacy.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=19900;t=43200');
      const both = await request(app)
        .post('/acme/chat/messages')
        .send({ target: ['a', 'b'], to: [], msg: {} });
      expect(both.status).toBe(400);
      expect(errorOf(both.text).error_description).toBe('to is not read by this route: it reads target and msg');
    });

    it('refuses a too-large payload without taking a rate token', async () => {
      const { app } = clockedApp({ express, jsonFirst });
      for (let i = 0; i < 5; i++)
        expect(
          (
            await request(app)
              .post('/acme/chat/users')
              .send({ username: id(65) })
          ).status,
        ).toBe(400);
      let admitted = 0;
      for (let i = 0; i < 12; i++)
        if ((await request(app).post('/acme/chat/users').send({ username: 'ok' })).status === 200) admitted++;
      expect(admitted).toBe(10);
    });
  });
});
