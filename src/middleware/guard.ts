import type { Request } from 'express';
import { ConfigError } from '../errors.js';
import { appKeyOf, type NameCase } from '../limits/app-key.js';
import type { RouteMatch } from '../limits/classify.js';
import type { Route } from '../limits/routes.js';
import type { Category } from '../limits/table.js';

/**
 * The match a guard limits: a route outside the catalog, held to `category`'s bucket and to the
 * user-ID checks of its path parameters. The app comes from `appNamesOf` (the guard's `appKey`),
 * else `req.params.org` and `req.params.app` (Express decodes them). A route with neither is a
 * `ConfigError`: guessing from the path put `/hooks/:tenant/push` in app `hooks#<tenant>`, and every
 * tenant of `/hooks/push/:id` in one bucket.
 */
export function guardMatch(
  category: Category,
  req: Request,
  nameCase: NameCase,
  appNamesOf?: (req: Request) => { org: string; app: string },
): RouteMatch {
  const params = (req.params ?? {}) as Record<string, string>;
  let org = params.org;
  let app = params.app;
  if (appNamesOf !== undefined) ({ org, app } = appNamesOf(req));
  else if (org === undefined || app === undefined) throw noAppOn(category, req);
  org = String(org);
  app = String(app);
  // an empty name would put every such request of every tenant in one bucket (`#`)
  if (org === '' || app === '') throw noAppOn(category, req, 'names no org or app for it');
  const route: Route & { category: Category } = {
    method: req.method as Route['method'],
    path: req.route?.path ?? req.path,
    category,
  };
  return { category, appKey: appKeyOf(org, app, nameCase), org, app, params, route };
}

function noAppOn(
  category: Category,
  req: Request,
  why = 'has no :org and :app parameters to name the app',
): ConfigError {
  const route = req.route?.path ?? req.path;
  return new ConfigError(
    'ERR_INVALID_OPTION',
    `guard('${category}')`,
    `the route ${String(route)} ${why}: give guard('${category}', { appKey: (req) => ({ org, app }) })`,
  );
}
