import type { Request } from 'express';
import type { RouteMatch } from '../limits/classify.js';
import type { Route } from '../limits/routes.js';
import type { Category } from '../limits/table.js';

/**
 * The match a guard limits: a route outside the catalog, held to `category`'s bucket and to the
 * user-ID checks of its path parameters. The app comes from `appKey`, else `req.params.org` and
 * `req.params.app`, else the first two path segments.
 */
export function guardMatch(
  category: Category,
  req: Request,
  appKeyOf?: (req: Request) => { org: string; app: string },
): RouteMatch {
  const params = (req.params ?? {}) as Record<string, string>;
  let org = params.org;
  let app = params.app;
  if (appKeyOf !== undefined) ({ org, app } = appKeyOf(req));
  else if (org === undefined || app === undefined) [org = '', app = ''] = req.path.split('/').filter(Boolean);
  const route: Route & { category: Category } = {
    method: req.method as Route['method'],
    path: req.route?.path ?? req.path,
    category,
  };
  return { category, appKey: `${org}#${app}`, org, app, params, route };
}
