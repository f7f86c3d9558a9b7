import express, { type ErrorRequestHandler, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { assertCategory } from '../config.js';
import { ConfigError, StoreError } from '../errors.js';
import type { Limiter } from '../limiter.js';
import { appKeyOf } from '../limits/app-key.js';
import { checkAppNames } from '../limits/payload.js';

const editionBody = z.strictObject({ edition: z.string({ error: 'must be an edition name' }) });

/**
 * The operator's JSON endpoints over one limiter: read an app's state, refill its buckets, move it
 * to another edition, replace its overrides. No authentication of its own: mount it behind yours.
 */
export function adminRouter(limiter: Limiter): Router {
  const router = express.Router();
  const { nameCase, appNameMaxChars } = limiter.config;
  /** The app of the path, held to the same name length as requests are: a longer one names no state. */
  const appKey = (req: Request): string => {
    const names = { org: String(req.params.org), app: String(req.params.app) };
    const refusal = checkAppNames(names, appNameMaxChars);
    if (refusal !== undefined) throw new ConfigError('ERR_INVALID_OPTION', '', refusal.description);
    return appKeyOf(names.org, names.app, nameCase);
  };
  // not strict: `null` is a body (overrides removed)
  router.use(express.json({ strict: false }));

  router.get('/apps/:org/:app', (req, res, next) => {
    limiter.inspect(appKey(req)).then((state) => res.json(state), next);
  });

  router.delete('/apps/:org/:app/buckets', (req, res, next) => {
    const { category } = req.query;
    if (category !== undefined) assertCategory(category, 'category');
    limiter.reset(appKey(req), category).then(() => res.status(204).end(), next);
  });

  router.put('/apps/:org/:app/edition', (req, res, next) => {
    const parsed = editionBody.safeParse(req.body);
    if (!parsed.success) throw bodyError(parsed.error);
    const { edition } = parsed.data;
    stored(limiter.setEdition(appKey(req), edition, 'edition'), res, { edition }).catch(next);
  });

  router.put('/apps/:org/:app/overrides', (req, res, next) => {
    if (req.body === undefined) throw new ConfigError('ERR_INVALID_OPTION', '', 'the body must be overrides, or null');
    const overrides: unknown = req.body ?? undefined; // `null` removes them
    stored(limiter.setOverrides(appKey(req), overrides, ''), res, {
      overrides: overrides ?? null,
    }).catch(next);
  });

  router.use(answerError);
  return router;
}

/** Answers 200 with `body` once the store took the setting; 503 when it did not (it holds in this process only). */
async function stored(took: boolean | Promise<boolean>, res: Response, body: object): Promise<void> {
  if (await took) res.json(body);
  else {
    res.status(503).json({
      error: 'service_unavailable',
      error_description: 'the store did not take the setting: it applies in this process only',
    });
  }
}

/** A body that is not `{ "edition": "…" }`, named by its field. */
function bodyError(error: z.ZodError): ConfigError {
  const issue = error.issues[0] as z.core.$ZodIssue;
  if (issue.code === 'unrecognized_keys')
    return new ConfigError('ERR_UNKNOWN_OPTION', String(issue.keys[0]), 'is not a known field');
  return new ConfigError('ERR_INVALID_OPTION', issue.path.join('.'), issue.message);
}

/** What went wrong, as JSON: a bad request 400, an unparsable body as its parser says, a store failure 503. */
const answerError: ErrorRequestHandler = (error: unknown, _req, res, next) => {
  const status = (error as { status?: unknown } | undefined)?.status;
  if (error instanceof ConfigError || (typeof status === 'number' && status >= 400 && status < 500)) {
    const code = typeof status === 'number' ? status : 400;
    res.status(code).json({ error: 'illegal_argument', error_description: (error as Error).message });
  } else if (error instanceof StoreError) {
    res.status(503).json({ error: 'service_unavailable', error_description: error.message });
  } else next(error);
};
