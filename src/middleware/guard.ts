import type { Request } from 'express';
import { appKeyOf, type NameCase } from '../limits/app-key.js';
import type { RouteMatch } from '../limits/classify.js';
import type { Route } from '../limits/routes.js';
import type { Category } from '../limits/table.js';

/**
 * The match a guard limits: a route outside the catalog, held to `category`'s bucket and to the
 * user-ID checks of its path parameters. The app comes from `appKeyOf`, else `req.params.org` and
 * `req.params.app` (Express decodes them), else the first two segments of the path, decoded the
 * same way: every spelling of one app is one key.
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
  else if (org === undefined || app === undefined) {
    const [first = '', second = ''] = req.path.split('/').filter(Boolean);
    org = decodeName(first);
    app = decodeName(second);
  }
  org = String(org);
  app = String(app);
  const route: Route & { category: Category } = {
    method: req.method as Route['method'],
    path: req.route?.path ?? req.path,
    category,
  };
  return { category, appKey: appKeyOf(org, app, nameCase), org, app, params, route };
}

/** A path segment decoded as Express decodes parameters; one that does not decode stays as it came. */
function decodeName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
