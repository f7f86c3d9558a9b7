import express, {
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import { z } from 'zod';
import { assertCategory, type Config } from '../config.js';
import type { ImErrorCode } from '../decision.js';
import { ConfigError, StoreError } from '../errors.js';
import type { Limiter } from '../limiter.js';
import { appKeyOf } from '../limits/app-key.js';
import { checkAppNames } from '../limits/payload.js';
import { type Mode, modes } from '../options.js';
import { sendError } from './respond.js';

export interface AdminOptions {
  /**
   * Who makes a change, for its audit event (`onAdminChange`, the log line): your authentication's
   * user (`(req) => req.user.email`). Asked before every change; without it, the change names nobody.
   */
  readonly actor?: (req: Request) => string | undefined;
}

const editionBody = z.strictObject({ edition: z.string({ error: 'must be an edition name' }) });
const modeBody = z.strictObject({
  mode: z.union([z.enum(modes), z.null()], { error: "must be 'enforce', 'report' or null" }),
});

/** What each body must be, named in a 400 for a body that is not JSON or not of that shape. */
const shapes = {
  edition: '{"edition":"<edition>"}',
  overrides: 'overrides ({"messages":{"ratePerSecond":100}}) or null',
  mode: `{"mode":"enforce"|"report"|null}`,
} as const;

/**
 * The operator's JSON endpoints over one limiter: read an app's state and settings, refill its
 * buckets or its daily quota, move it to another edition, replace its overrides, set the mode of
 * one app or every app. Reads write nothing; every change is an audit event. No authentication of
 * its own: mount it under a path of its own, behind yours (it answers 404 to any path it does not know).
 */
export function adminRouter(
  limiter: Limiter,
  { nameCase, appNameMaxChars }: Pick<Config, 'nameCase' | 'appNameMaxChars'>,
  options: AdminOptions = {},
): Router {
  const router = express.Router();
  /** The app of the path, held to the same name length as requests are: a longer one names no state. */
  const appKey = (req: Request): string => {
    const names = { org: String(req.params.org), app: String(req.params.app) };
    const refusal = checkAppNames(names, appNameMaxChars);
    if (refusal !== undefined) throw new ConfigError('ERR_INVALID_OPTION', '', refusal.description);
    return appKeyOf(names.org, names.app, nameCase);
  };
  const actor = (req: Request): string | undefined => options.actor?.(req);

  router.get('/apps/:org/:app', (req, res, next) => {
    limiter.inspect(appKey(req)).then((state) => res.json(state), next);
  });

  router.delete('/apps/:org/:app/buckets', (req, res, next) => {
    const { category, ...unknown } = req.query;
    // a misspelt `?category=` would otherwise refill every bucket of the app
    const stray = Object.keys(unknown)[0];
    if (stray !== undefined)
      throw new ConfigError('ERR_UNKNOWN_OPTION', stray, 'is not a known parameter: ?category=…');
    if (category !== undefined) assertCategory(category, 'category');
    limiter.reset(appKey(req), category, actor(req)).then(() => res.status(204).end(), next);
  });

  router.delete('/apps/:org/:app/daily', (req, res, next) => {
    limiter.resetDaily(appKey(req), actor(req)).then(() => res.status(204).end(), next);
  });

  router.put('/apps/:org/:app/edition', json('edition'), (req, res, next) => {
    const { edition } = parse(editionBody, req.body);
    stored(limiter.setEdition(appKey(req), edition, 'edition', actor(req)), res, { edition }).catch(next);
  });

  router.put('/apps/:org/:app/overrides', json('overrides'), (req, res, next) => {
    const overrides: unknown = req.body ?? undefined; // `null` removes them
    stored(limiter.setOverrides(appKey(req), overrides, '', actor(req)), res, {
      overrides: overrides ?? null,
    }).catch(next);
  });

  router.put('/apps/:org/:app/mode', json('mode'), (req, res, next) => {
    const { mode } = parse(modeBody, req.body);
    stored(limiter.setMode(appKey(req), mode ?? undefined, 'mode', actor(req)), res, { mode }).catch(next);
  });

  router.put('/mode', json('mode'), (req, res, next) => {
    const { mode } = parse(modeBody, req.body);
    stored(limiter.setMode(undefined, (mode as Mode | null) ?? undefined, 'mode', actor(req)), res, { mode }).catch(
      next,
    );
  });

  router.use((req, res) => {
    sendError(res, 404, 'resource_not_found', `no admin endpoint ${req.method} ${req.path}`);
  });
  router.use(answerError);
  return router;
}

/**
 * Parses a JSON body of `shape` (not strict: `null` is a body, overrides removed); a body of any
 * other type, or none, is a 400 that names the type expected and the shape.
 */
function json(shape: keyof typeof shapes): RequestHandler {
  const expected = `the body must be JSON (Content-Type: application/json): ${shapes[shape]}`;
  const parser = express.json({ strict: false });
  return (req, res, next) => {
    if (!hasBody(req) || req.is('application/json') === false) {
      const type = req.get('content-type');
      next(new ConfigError('ERR_INVALID_OPTION', '', `${expected}; got ${type ? `Content-Type: ${type}` : 'no body'}`));
      return;
    }
    void parser(req, res, (error?: unknown) => {
      const status = (error as { status?: unknown } | undefined)?.status;
      if (error === undefined) next();
      else next(status === 400 ? new ConfigError('ERR_INVALID_OPTION', '', `${expected}; it is not JSON`) : error);
    });
  };
}

const hasBody = (req: Request): boolean =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/** The body as `schema` has it; throws a 400 naming the field and the shape expected. */
function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0] as z.core.$ZodIssue;
  if (issue.code === 'unrecognized_keys')
    throw new ConfigError('ERR_UNKNOWN_OPTION', String(issue.keys[0]), 'is not a known field');
  throw new ConfigError('ERR_INVALID_OPTION', issue.path.join('.') || 'body', issue.message);
}

/** Answers 200 with `body` once the store took the setting; 503 when it did not (it holds in this process only). */
async function stored(took: boolean | Promise<boolean>, res: Response, body: object): Promise<void> {
  if (await took) res.json(body);
  else answer(res, 503, 'service_unavailable', 'the store did not take the setting: it applies in this process only');
}

const answer = (res: Response, status: number, error: ImErrorCode, description: string): void =>
  sendError(res, status, error, description);

/** What went wrong, in the IM error shape: a bad request 400, a store failure 503; anything else is the app's. */
const answerError: ErrorRequestHandler = (error: unknown, _req, res, next) => {
  const status = (error as { status?: unknown } | undefined)?.status;
  if (error instanceof ConfigError || (typeof status === 'number' && status >= 400 && status < 500)) {
    answer(res, typeof status === 'number' ? status : 400, 'illegal_argument', (error as Error).message);
  } else if (error instanceof StoreError) {
    answer(res, 503, 'service_unavailable', error.message);
  } else next(error);
};
