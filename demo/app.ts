import { createHash, timingSafeEqual } from 'node:crypto';
import busboy from 'busboy';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { type ImRateLimit, imRateLimit, type Options } from 'im-rate-limit';
import { type MessageSend, routes } from 'im-rate-limit/catalog';
import { collectDefaultMetrics, Registry } from 'prom-client';
import {
  answerErrors,
  BadRequest,
  type ImError,
  refuse,
  refuseBody,
  refuseUnreadBody,
  unknownRoute,
} from './errors.js';
import { type AppState, type ChatFile, newId, newUuid, type Room, setOf, stateOf } from './im-state.js';

type Handler = (req: Request, res: Response, state: AppState) => unknown;
const p = (req: Request, name: string): string => String(req.params[name]);

/** A name from the body as text; an object or a list where a name belongs is the client's mistake. */
const text = (value: unknown, name: string): string => {
  if (typeof value === 'object' && value !== null) throw new BadRequest(`${name} must be a string`);
  return String(value);
};
const list = (value: unknown, name: string): string[] =>
  Array.isArray(value) ? value.map((item) => text(item, name)) : value === undefined ? [] : [text(value, name)];

/** User IDs are case-insensitive on the IM platform: `Bob` and `bob` are one user. */
const userId = (name: string): string => name.toUpperCase().toLowerCase();

/** Deeper JSON than this is refused: keeping it as text (`JSON.stringify` recurses) would overflow the stack. */
const MAX_DEPTH = 64;

/** `value`, once it is known to nest no deeper than `MAX_DEPTH`; walked without recursion. */
function shallow<T>(value: T): T {
  const pending: Array<[unknown, number]> = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth === MAX_DEPTH) throw new BadRequest(`request body nests deeper than ${MAX_DEPTH} levels`);
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return value;
}

/** Answers the `BadRequest` a handler throws with a 400 in the IM REST API's error shape. */
const checked =
  (handler: Handler): Handler =>
  (req, res, state) => {
    try {
      return handler(req, res, state);
    } catch (error) {
      if (!(error instanceof BadRequest)) throw error;
      refuse(res, 400, 'illegal_argument', error.message);
    }
  };
const checkedAll = (table: Record<string, Handler>): Record<string, Handler> =>
  Object.fromEntries(Object.entries(table).map(([route, handler]) => [route, checked(handler)]));

/** The IM REST API's answer envelope. */
function reply(
  req: Request,
  res: Response,
  payload: { entities?: unknown[]; data?: unknown; count?: number },
  status = 200,
) {
  res.status(status).json({
    action: req.method.toLowerCase(),
    application: newUuid(),
    uri: `http://${req.headers.host ?? 'localhost'}${req.originalUrl.split('?')[0]}`,
    path: req.path,
    organization: p(req, 'org'),
    applicationName: p(req, 'app'),
    timestamp: Date.now(),
    duration: 0,
    ...payload,
  });
}

function notFound(_req: Request, res: Response, what: string) {
  refuse(res, 404, 'service_resource_not_found', `${what} does not exist`);
}

const userEntity = (u: AppState['users'] extends Map<string, infer U> ? U : never) => ({
  uuid: newUuid(),
  type: 'user',
  created: u.created,
  modified: u.created,
  username: u.username,
  activated: u.activated,
  ...(u.nickname === undefined ? {} : { nickname: u.nickname }),
});

function createRoom(rooms: Map<string, Room>, body: Record<string, unknown>): Room {
  const id = newId();
  if (typeof body.owner !== 'string' || body.owner === '') throw new BadRequest('owner must be a user ID');
  const owner = userId(body.owner);
  const room: Room = {
    id,
    name: text(body.groupname ?? body.name ?? id, 'groupname'),
    owner,
    members: new Set([owner, ...list(body.members, 'members').map(userId)]),
    created: Date.now(),
  };
  rooms.set(id, room);
  return room;
}

/** Real behaviour for the routes a demo shows off; every other catalog route answers a plausible success. */
function roomHandlers(
  kind: 'chatgroups' | 'chatrooms',
  idName: string,
  pick: (s: AppState) => Map<string, Room>,
): Record<string, Handler> {
  const idKey = kind === 'chatgroups' ? 'groupid' : 'id';
  return {
    [`POST ${kind}`]: (req, res, s) => reply(req, res, { data: { [idKey]: createRoom(pick(s), req.body ?? {}).id } }),
    [`GET ${kind}`]: (req, res, s) =>
      reply(req, res, {
        data: [...pick(s).values()].map((r) => ({
          [idKey]: r.id,
          name: r.name,
          owner: r.owner,
          affiliations: r.members.size,
        })),
      }),
    [`GET ${kind}/{${idName}}`]: (req, res, s) => {
      const room = pick(s).get(p(req, idName));
      if (room === undefined) return notFound(req, res, `${kind} ${p(req, idName)}`);
      reply(req, res, {
        data: [
          {
            id: room.id,
            name: room.name,
            owner: room.owner,
            affiliations_count: room.members.size,
            created: room.created,
          },
        ],
      });
    },
    [`DELETE ${kind}/{${idName}}`]: (req, res, s) => {
      if (!pick(s).delete(p(req, idName))) return notFound(req, res, `${kind} ${p(req, idName)}`);
      reply(req, res, { data: { success: true, [idKey]: p(req, idName) } });
    },
    [`POST ${kind}/{${idName}}/users/{username}`]: (req, res, s) => {
      const room = pick(s).get(p(req, idName));
      if (room === undefined) return notFound(req, res, `${kind} ${p(req, idName)}`);
      room.members.add(userId(p(req, 'username')));
      reply(req, res, { data: { result: true, action: 'add_member', user: p(req, 'username'), [idKey]: room.id } });
    },
    [`POST ${kind}/{${idName}}/users`]: (req, res, s) => {
      const room = pick(s).get(p(req, idName));
      if (room === undefined) return notFound(req, res, `${kind} ${p(req, idName)}`);
      const added = list(req.body?.usernames, 'usernames');
      for (const user of added) room.members.add(userId(user));
      reply(req, res, { data: { newmembers: added, action: 'add_member', [idKey]: room.id } });
    },
    [`DELETE ${kind}/{${idName}}/users/{username}`]: (req, res, s) => {
      const room = pick(s).get(p(req, idName));
      if (room === undefined) return notFound(req, res, `${kind} ${p(req, idName)}`);
      const removed = p(req, 'username')
        .split(',')
        .map(userId)
        .filter((user) => room.members.delete(user));
      if (removed.length === 0) return notFound(req, res, `member ${p(req, 'username')} of ${kind} ${room.id}`);
      reply(req, res, {
        data: removed.map((user) => ({ result: true, action: 'remove_member', user, [idKey]: room.id })),
      });
    },
    [`GET ${kind}/{${idName}}/users`]: (req, res, s) => {
      const room = pick(s).get(p(req, idName));
      if (room === undefined) return notFound(req, res, `${kind} ${p(req, idName)}`);
      reply(req, res, {
        data: [...room.members].map((member) => (member === room.owner ? { owner: member } : { member })),
      });
    },
  };
}

/** Where each send API names its recipients: the limiter counts pushes from the same field. */
const recipientsField = { legacy: 'target', current: 'to' } as const;

/** A list of IDs from the body; anything else where one belongs is the client's mistake. */
function idList(body: Record<string, unknown>, name: string): string[] {
  const value = Object.hasOwn(body, name) ? body[name] : undefined;
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((id) => typeof id === 'string')) {
    throw new BadRequest(`${name} must be a list of IDs`);
  }
  return value;
}

/**
 * A send route: it delivers exactly the pushes the limiter counted for it, one `messages` entry
 * each. One per listed recipient; on a `members` route one per listed user of each listed group (one
 * per group that lists no users); a broadcast is one push to every user of the app (every chat room
 * of it on `messages/chatrooms/broadcast`), so it takes no list. A send that names no recipient, or
 * a broadcast that lists some, is refused 400: it would deliver other than what was counted.
 */
function sendMessage(send: MessageSend, path: string): Handler {
  const field = recipientsField[send.api];
  return checked((req, res, s) => {
    const body: Record<string, unknown> =
      typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body) ? req.body : {};
    const from = text(body.from ?? 'admin', 'from');
    const type = text(body.type ?? (body.msg as { type?: unknown } | undefined)?.type ?? 'txt', 'type');
    const deliver = (id: string, to: string[]): void => void s.messages.push({ id, from, to, type, at: Date.now() });
    const listed = idList(body, field);
    if (send.audience === 'broadcast') {
      if (Object.hasOwn(body, field)) throw new BadRequest(`a broadcast goes to the whole app: it takes no ${field}`);
      const id = newId();
      deliver(id, path === 'messages/chatrooms/broadcast' ? [...s.rooms.keys()] : [...s.users.keys()]);
      return reply(req, res, { data: { id } });
    }
    if (listed.length === 0) throw new BadRequest(`${field} must name at least one recipient`);
    const users = send.audience === 'members' ? idList(body, 'users') : [];
    const ids: Record<string, string> = {};
    for (const target of listed) {
      const id = newId();
      ids[target] = id;
      if (users.length === 0) deliver(id, [target]);
      else for (const user of users) deliver(id, [user]);
    }
    reply(req, res, { data: ids });
  });
}

const handlers: Record<string, Handler> = checkedAll({
  'POST users': (req, res, s) => {
    const users = (Array.isArray(req.body) ? req.body : [req.body ?? {}]).map((u: unknown) => {
      if (typeof u !== 'object' || u === null) throw new BadRequest('each user must be an object');
      const { username, nickname } = u as Record<string, unknown>;
      return {
        username: text(username, 'username'),
        created: Date.now(),
        activated: true,
        ...(nickname ? { nickname: text(nickname, 'nickname') } : {}),
      };
    });
    for (const user of users) s.users.set(user.username, user); // all or none, once every user is valid
    reply(req, res, { entities: users.map(userEntity) });
  },
  'GET users': (req, res, s) =>
    reply(req, res, { entities: [...s.users.values()].slice(0, Number(req.query.limit ?? 10)).map(userEntity) }),
  'GET users/{username}': (req, res, s) => {
    const user = s.users.get(p(req, 'username'));
    if (user === undefined) return notFound(req, res, `user ${p(req, 'username')}`);
    reply(req, res, { entities: [userEntity(user)], count: 1 });
  },
  'DELETE users/{username}': (req, res, s) => {
    const user = s.users.get(p(req, 'username'));
    if (user === undefined) return notFound(req, res, `user ${p(req, 'username')}`);
    s.users.delete(user.username);
    reply(req, res, { entities: [userEntity(user)] });
  },
  'GET users/{username}/status': (req, res, s) =>
    reply(req, res, { data: { [p(req, 'username')]: s.users.has(p(req, 'username')) ? 'online' : 'offline' } }),
  'POST users/{username}/contacts/users/{friend}': (req, res, s) => {
    setOf(s.friends, p(req, 'username')).add(p(req, 'friend'));
    reply(req, res, { entities: [{ username: p(req, 'friend'), activated: true, type: 'user' }] });
  },
  'DELETE users/{username}/contacts/users/{friend}': (req, res, s) => {
    setOf(s.friends, p(req, 'username')).delete(p(req, 'friend'));
    reply(req, res, { entities: [{ username: p(req, 'friend'), activated: true, type: 'user' }] });
  },
  'GET users/{username}/contacts/users': (req, res, s) =>
    reply(req, res, { data: [...setOf(s.friends, p(req, 'username'))] }),
  'POST users/{username}/blocks/users': (req, res, s) => {
    const blocked = list(req.body?.usernames, 'usernames');
    for (const user of blocked) setOf(s.blocks, p(req, 'username')).add(user);
    reply(req, res, { data: blocked });
  },
  'GET users/{username}/blocks/users': (req, res, s) =>
    reply(req, res, { data: [...setOf(s.blocks, p(req, 'username'))] }),
  'GET users/{username}/offline_msg_count': (req, res, s) =>
    reply(req, res, {
      data: { [p(req, 'username')]: s.messages.filter((m) => m.to.includes(p(req, 'username'))).length },
    }),
  'GET chatmessages/{time}': (req, res) =>
    reply(req, res, {
      data: [{ url: `https://files.example.invalid/history/${p(req, 'time')}.gz`, filename: `${p(req, 'time')}.gz` }],
    }),
  'POST chatfiles': (req, res, s) => {
    const uuid = newUuid();
    const file = uploadOf(req, res);
    s.files.set(uuid, file);
    reply(req, res, {
      entities: [{ uuid, type: 'chatfile', 'share-secret': newUuid().slice(0, 12), size: file.bytes.length }],
    });
  },
  'GET chatfiles/{uuid}': (req, res, s) => {
    const file = s.files.get(p(req, 'uuid'));
    if (file === undefined) return notFound(req, res, `file ${p(req, 'uuid')}`);
    // the type as uploaded (res.type would add a charset), and the length: the pacer keeps both
    res.setHeader('Content-Type', file.type);
    res.setHeader('Content-Length', file.bytes.length);
    res.setHeader('X-Content-Type-Options', 'nosniff'); // served as the uploader labelled it, never sniffed
    res.end(file.bytes);
  },
  ...roomHandlers('chatgroups', 'group_id', (s) => s.groups),
  ...roomHandlers('chatrooms', 'chatroom_id', (s) => s.rooms),
});

/** The largest file an upload may carry by default: the IM platform's default for file messages, 10 MB, taken as 10 MiB. */
export const UPLOAD_MAX_BYTES = 10 * 1024 * 1024;
/** What a multipart upload may carry besides its file: boundaries, part headers, fields. */
const ENVELOPE_BYTES = 64 * 1024;
/**
 * The type of a raw upload sent without Content-Type, and of a file part whose type busboy gives as
 * empty (it reads a part that names no type as RFC 7578's default, text/plain; curl and browsers name one).
 */
const DEFAULT_FILE_TYPE = 'application/octet-stream';

/** The file `receiveUpload` read, or the body another parser read: raw bytes, or JSON kept as its text. */
function uploadOf(req: Request, res: Response): ChatFile {
  const multipart = res.locals.upload as ChatFile | undefined;
  if (multipart !== undefined) return multipart;
  const type = req.headers['content-type'] ?? DEFAULT_FILE_TYPE;
  if (Buffer.isBuffer(req.body)) return { bytes: req.body, type };
  return { bytes: Buffer.from(JSON.stringify(shallow(req.body) ?? '')), type };
}

/**
 * The body of `POST /{org}/{app}/chatfiles`, as an IM client sends it: `multipart/form-data` (`curl -F
 * file=@photo.jpg`), whose first file part is the upload (its bytes, and the part's media type), read by
 * busboy into `res.locals.upload`; or any other non-JSON body, kept whole as raw bytes with the request's
 * Content-Type. Either is held to `maxBytes` (413 `request_entity_too_large`); a multipart body without a
 * file part, or one that does not parse, is answered 400 `illegal_argument`. JSON goes on to the JSON parser.
 */
function receiveUpload(maxBytes: number): RequestHandler {
  const raw = express.raw({ type: () => true, limit: maxBytes });
  return (req, res, next) => {
    const type = req.headers['content-type'] ?? '';
    // what the JSON parser reads (its default type): any other body is a file, kept as it came
    if (type.split(';', 1)[0]?.trim().toLowerCase() === 'application/json') return next();
    if (type.split(';', 1)[0]?.trim().toLowerCase() === 'multipart/form-data') {
      return receiveMultipart(req, res, next, maxBytes);
    }
    raw(req, res, (error?: unknown) => {
      if ((error as { type?: unknown } | undefined)?.type !== 'entity.too.large') return next(error);
      refuse(res, 413, 'request_entity_too_large', `the file is larger than ${maxBytes} bytes`);
    });
  };
}

function receiveMultipart(req: Request, res: Response, next: NextFunction, maxBytes: number): void {
  const encoding = req.headers['content-encoding']?.toLowerCase();
  if (encoding !== undefined && encoding !== 'identity') {
    refuseBody(req, res, 415, 'unsupported_media_type', `a multipart upload cannot be ${encoding}-encoded`);
    return;
  }
  let parser: busboy.Busboy;
  try {
    // one file part at most (later ones are read and dropped); fields are never kept (no 'field' listener)
    parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: maxBytes + 1 } });
  } catch (error) {
    refuseBody(req, res, 400, 'illegal_argument', `malformed multipart body: ${(error as Error).message}`);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let type: string | undefined;
  let received = 0;
  let settled = false;
  const fail = (status: number, error: ImError, description: string): void => {
    if (settled) return;
    settled = true;
    req.unpipe(parser);
    req.off('data', count);
    chunks.length = 0;
    refuseBody(req, res, status, error, description);
  };
  // the whole body, not only the file: parts busboy drops are bytes the client sent all the same
  const count = (chunk: Buffer): void => {
    received += chunk.length;
    if (received > maxBytes + ENVELOPE_BYTES) {
      fail(413, 'request_entity_too_large', `the upload is larger than ${maxBytes + ENVELOPE_BYTES} bytes`);
    }
  };
  parser.on('file', (_field, file, info) => {
    type = info.mimeType || DEFAULT_FILE_TYPE;
    file.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    // busboy stops a file at `fileSize`: one byte past `maxBytes`
    file.on('limit', () => fail(413, 'request_entity_too_large', `the file is larger than ${maxBytes} bytes`));
    file.on('error', (error: Error) => fail(400, 'illegal_argument', `malformed multipart body: ${error.message}`));
  });
  parser.on('error', (error: Error) => fail(400, 'illegal_argument', `malformed multipart body: ${error.message}`));
  parser.on('close', () => {
    if (settled) return;
    settled = true;
    req.off('data', count);
    if (type === undefined) {
      return refuse(res, 400, 'illegal_argument', 'the multipart body has no file part (curl -F file=@photo.jpg)');
    }
    res.locals.upload = { bytes: Buffer.concat(chunks, size), type } satisfies ChatFile;
    next();
  });
  req.on('data', count);
  req.pipe(parser);
}

/** Any other catalog route: a plausible success naming the path's parameters (never the body: it is not echoed). */
const generic: Handler = (req, res) => {
  const { org: _org, app: _app, ...params } = req.params as Record<string, string>;
  reply(req, res, { data: { result: true, ...params } });
};

/**
 * Admits only `Authorization: Bearer <token>`, compared in constant time (digests of equal length);
 * anything else is a 401 in the IM error body, like every other error of the demo.
 */
function bearer(token: string): RequestHandler {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  const expected = digest(`Bearer ${token}`);
  return (req, res, next) => {
    if (timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) return next();
    res.set('WWW-Authenticate', 'Bearer');
    refuse(res, 401, 'unauthorized', 'the admin endpoints need Authorization: Bearer <ADMIN_TOKEN>');
  };
}

/**
 * The demo IM REST server: every route of `routes.json` behind the limiter, answered from memory.
 * Uploads (`POST /{org}/{app}/chatfiles`: multipart/form-data, or a raw body) of up to `uploadMaxBytes`
 * (default 10 MiB) are kept and served back byte for byte, with their type and length, by
 * `GET /{org}/{app}/chatfiles/{uuid}`.
 * `GET /metrics` answers the limiter's metrics and Node's own in the Prometheus text format.
 * With an `adminToken`, the limiter's admin endpoints answer under `/admin` to `Authorization: Bearer <token>`.
 */
export function createDemoApp(
  options: Options = {},
  {
    adminToken,
    uploadMaxBytes = UPLOAD_MAX_BYTES,
  }: { adminToken?: string | undefined; uploadMaxBytes?: number | undefined } = {},
): { app: Express; limiter: ImRateLimit; registry: Registry } {
  const app = express();
  app.disable('x-powered-by');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  // The limiter runs first and hands bodies to the app's own JSON parser when a check needs one.
  const json = express.json({ limit: '1mb' });
  const limiter = imRateLimit({ bodyParser: json, metrics: { registry }, ...options });
  if (adminToken) app.use('/admin', bearer(adminToken), limiter.admin());
  app.use(limiter);
  // an upload is read only once the limiter has admitted it; JSON ones go on to the parser below
  app.post('/:org/:app/chatfiles', receiveUpload(uploadMaxBytes));
  app.use(json);
  app.use(refuseUnreadBody);
  for (const route of routes) {
    const path = `/:org/:app/${route.path.replace(/\{(\w+)\}/g, ':$1')}`;
    const handler =
      handlers[`${route.method} ${route.path}`] ?? (route.sends ? sendMessage(route.sends, route.path) : generic);
    app[route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'](path, (req, res) => {
      handler(req, res, stateOf(`${p(req, 'org')}#${p(req, 'app')}`));
    });
  }
  app.use(unknownRoute);
  app.use(answerErrors);
  return { app, limiter, registry };
}
