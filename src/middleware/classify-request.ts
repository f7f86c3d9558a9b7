import type { IncomingMessage } from 'node:http';
import parseurl from 'parseurl';
import type { NameCase } from '../limits/app-key.js';
import { type BasePath, compilePathClassifier, type RouteMatch, sameLiteral } from '../limits/classify.js';
import { routes as defaultRoutes, type Route } from '../limits/routes.js';

export interface Classifier {
  /** The route Express dispatches `method target` to (`target` as it stands in `req.url`), if limited. */
  (method: string, target: string): RouteMatch | undefined;
  /**
   * The same for a request, at the path the catalog's routes see (see `BasePath`); its pathname is
   * parsed once and shared with Express's router.
   */
  request(req: IncomingMessage): RouteMatch | undefined;
}

export interface ClassifierOptions {
  /** How app keys treat letter case; default `'insensitive'`. */
  readonly nameCase?: NameCase;
  readonly basePath?: BasePath | undefined;
}

/** What sends a target past parseurl's fast path, to `url.parse`: white space and `#`. */
const NOT_PLAIN = /[\t\n\f\r #\u00a0\ufeff]/;
const SLASH = 47;

/**
 * The catalog's classifier (`limits/classify.ts`) fed with the pathname Express routes a request on,
 * found as Express finds it: `parseurl` (no query, no fragment, the absolute form reduced to its
 * path), below the limiter's mount point or from `basePath`.
 */
export function compileClassifier(
  catalog: readonly Route[] = defaultRoutes,
  options: ClassifierOptions = {},
): Classifier {
  const lookup = compilePathClassifier(catalog, { nameCase: options.nameCase ?? 'insensitive' });
  const below = prefixStripper(options.basePath);
  const classify = ((method: string, target: string) => {
    if (typeof target !== 'string') return undefined;
    const pathname = plainPathnameOf(target) ?? pathnameOf({ url: target } as IncomingMessage);
    return lookup(method, below === undefined ? pathname : below(pathname));
  }) as Classifier;
  classify.request =
    below === undefined
      ? (req) => {
          const pathname = pathnameOf(req);
          // below a wildcard mount (NestJS's forRoutes('*')) req.url is `/`: the whole path is the route's
          return lookup(req.method as string, pathname === '/' ? routedPathOf(req) : pathname);
        }
      : (req) => lookup(req.method as string, below(routedPathOf(req)));
  return classify;
}

/** Classifies a request target against the default catalog (`routes.json`); never throws. */
export const classify: Classifier = compileClassifier();

/**
 * The pathname of a target that is a plain path, as parseurl's own fast path reads it (the path up
 * to the first `?`), without building its URL object; `undefined` for any other, which parseurl
 * hands to `url.parse`: one not starting with `/`, or holding white space or `#`.
 */
function plainPathnameOf(target: string): string | undefined {
  if (target.charCodeAt(0) !== SLASH || NOT_PLAIN.test(target)) return undefined;
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** The pathname Express's router matches, parsed as it parses it (and cached where it looks). */
function pathnameOf(req: IncomingMessage): string | null | undefined {
  try {
    return parseurl(req)?.pathname;
  } catch {
    return undefined; // Express routes no request whose URL does not parse
  }
}

/**
 * The request's whole pathname as Express routes it from here: the mount points it passed
 * (`req.baseUrl`) and the rest (`req.url`). Not `req.originalUrl`: a middleware before the limiter
 * that rewrote `req.url` rewrote where Express routes the request too.
 */
export function routedPathOf(req: IncomingMessage): string | null | undefined {
  const baseUrl = (req as { baseUrl?: unknown }).baseUrl;
  const pathname = pathnameOf(req);
  return typeof baseUrl !== 'string' || baseUrl === '' || typeof pathname !== 'string' ? pathname : baseUrl + pathname;
}

/**
 * What is left of a routed pathname once `basePath` is taken off its start; `undefined` when it does
 * not start so. As Express 4 mounts, one slash after the prefix goes with it (`/v1//acme` routes as
 * `/acme` there). A pattern is matched without case, as Express matches paths.
 */
function prefixStripper(
  basePath: BasePath | undefined,
): ((pathname: string | null | undefined) => string | undefined) | undefined {
  if (basePath === undefined) return undefined;
  let lengthOf: (pathname: string) => number;
  if (typeof basePath === 'string') {
    const prefix = basePath.replace(/\/+$/, '').replace(/[A-Z]/g, (letter) => letter.toLowerCase());
    lengthOf = (pathname) =>
      pathname.length >= prefix.length && sameLiteral(pathname, 0, prefix) ? prefix.length : -1;
  } else {
    const flags = `${basePath.flags.replace(/[gyi]/g, '')}i`; // no lastIndex state
    const pattern = new RegExp(basePath.source, flags);
    lengthOf = (pathname) => {
      const found = pattern.exec(pathname);
      return found === null || found.index !== 0 ? -1 : found[0].length;
    };
  }
  return (pathname) => {
    if (typeof pathname !== 'string') return undefined;
    const length = lengthOf(pathname);
    if (length < 0 || (length < pathname.length && pathname.charCodeAt(length) !== SLASH)) return undefined;
    const doubled = pathname.charCodeAt(length + 1) === SLASH;
    return pathname.slice(doubled ? length + 1 : length);
  };
}
