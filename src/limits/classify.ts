import { MemoMap } from '../bounded-map.js';
import { appKeyOf, type NameCase } from './app-key.js';
import { routes as defaultRoutes, type Route } from './routes.js';
import type { Category } from './table.js';

/** A request matched to a catalog route of a category. */
export interface RouteMatch {
  readonly category: Category;
  /** The canonical `org#app` the quota belongs to (see `appKeyOf`). */
  readonly appKey: string;
  /** The org and app names as Express decodes them. */
  readonly org: string;
  readonly app: string;
  /** The route's parameters by name, percent-decoded as Express decodes them (`{ username: 'alice' }`). */
  readonly params: Readonly<Record<string, string>>;
  readonly route: Route & { readonly category: Category };
}

/**
 * Where the catalog's `/{org}/{app}/…` begins in the path Express routes at the limiter
 * (`req.baseUrl` + `req.url`): a prefix (`'/v1'`, matched as Express matches a mount path: whole
 * segments, ASCII case-insensitively) or a pattern matched at its start, without case (`/^\/v\d+/`).
 * Without one, the path is the one below the limiter's own mount point (`req.url`), or the whole path
 * where that is `/` (a middleware mounted on a wildcard, as NestJS's `forRoutes('*')` mounts it).
 * Matched by the Express layer (`middleware/classify-request.ts`), which finds a request's path.
 */
export type BasePath = string | RegExp;

/**
 * The route Express dispatches `method pathname` to, if it is limited: `pathname` as Express's
 * router matches it (no query, no fragment), from where the catalog's `/{org}/{app}/…` begins.
 */
export type PathClassifier = (method: string, pathname: string | null | undefined) => RouteMatch | undefined;

export interface PathClassifierOptions {
  /** How app keys treat letter case; default `'insensitive'`. */
  readonly nameCase?: NameCase;
}

interface AppNames {
  readonly org: string;
  readonly app: string;
  readonly appKey: string;
}

interface TrieNode {
  /** Literal segments, lower-cased ASCII, and where each leads. */
  readonly literals: string[];
  readonly next: TrieNode[];
  /** The literals of each length, by index: a segment is compared with those of its length only. */
  readonly byLength: number[][];
  param: TrieNode | undefined;
  /** The route that ends here; a route of no category ends the walk unlimited, as Express runs it. */
  route: Route | undefined;
  /** Parameter names, and the segment each is in (0 is the org, 1 the app). */
  paramNames: readonly string[];
  paramSegments: readonly number[];
}

const newNode = (): TrieNode => ({
  literals: [],
  next: [],
  byLength: [],
  param: undefined,
  route: undefined,
  paramNames: [],
  paramSegments: [],
});

/** The params of a route that has none: one frozen object, not one per request. */
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
/** Apps whose names are kept decoded, all forgotten at once past this: a busy app, most of the traffic, is soon back. */
const MAX_CACHED_APPS = 1024;
/** The longest `/org/app` kept there: the cache holds at most about 1024 × 3 × 260 characters. */
const MAX_CACHED_NAME_CHARS = 260;
/** More segments than the deepest route has: such a path matches nothing. */
const MAX_SEGMENTS = 16;
/** Start and end of each segment of the path being classified: reused, classification is synchronous. */
const bounds = new Int32Array(MAX_SEGMENTS * 2);
const SLASH = 47;

/**
 * Compiles a route catalog into one segment trie per method that answers exactly what Express
 * answers for `app[method]('/:org/:app/<path>')` routes registered in the catalog's order (most
 * specific first: see `routes`). It reads the pathname Express routes on (finding it in a request
 * is the Express layer's: `middleware/classify-request.ts`), compares literal segments with the raw
 * text, ASCII letters case-insensitively and nothing decoded (`%75sers` is not `users`, as
 * path-to-regexp's case-insensitive match goes), needs every parameter non-empty, allows one
 * trailing slash, and decodes parameters as Express does: a parameter that does not decode is a
 * 400 in Express and no match here. Literals are tried before parameters, with backtracking, which
 * is the first match in the most-specific-first order.
 */
export function compilePathClassifier(
  catalog: readonly Route[] = defaultRoutes,
  options: PathClassifierOptions = {},
): PathClassifier {
  const { nameCase = 'insensitive' } = options;
  const roots = new Map<string, TrieNode>();
  for (const route of catalog) {
    const method = route.method.toLowerCase();
    let node = roots.get(method) ?? newNode();
    roots.set(method, node);
    const paramNames: string[] = [];
    const paramSegments: number[] = [];
    route.path.split('/').forEach((segment, position) => {
      if (segment.startsWith('{')) {
        paramNames.push(segment.slice(1, -1));
        paramSegments.push(position + 2);
        node.param ??= newNode();
        node = node.param;
        return;
      }
      if (!/^[\x21-\x7e]+$/.test(segment))
        throw new Error(`route ${route.method} ${route.path}: literal segments must be ASCII`);
      const literal = segment.toLowerCase();
      let index = node.literals.indexOf(literal);
      if (index === -1) {
        index = node.literals.push(literal) - 1;
        node.byLength[literal.length] ??= [];
        node.byLength[literal.length]?.push(index);
      }
      node.next[index] ??= newNode();
      node = node.next[index] as TrieNode;
    });
    if (node.route === undefined) Object.assign(node, { route, paramNames, paramSegments });
  }
  const get = roots.get('get');
  if (get !== undefined && !roots.has('head')) roots.set('head', get); // Express answers HEAD with the GET route
  for (const [method, root] of [...roots]) roots.set(method.toUpperCase(), root); // as clients send them
  /** The names and key of the apps seen lately, by the raw `/org/app` that starts their paths. */
  const apps = new MemoMap<string, AppNames>(MAX_CACHED_APPS);

  const lookup = (method: string, pathname: string | null | undefined): RouteMatch | undefined => {
    if (typeof method !== 'string' || typeof pathname !== 'string') return undefined;
    const root = roots.get(method) ?? roots.get(method.toLowerCase());
    if (root === undefined || pathname.charCodeAt(0) !== SLASH) return undefined;
    let end = pathname.length;
    if (end > 1 && pathname.charCodeAt(end - 1) === SLASH) end--; // one trailing slash, as Express allows
    const count = splitSegments(pathname, end);
    if (count < 2) return undefined;
    const leaf = walk(root, pathname, 2, count);
    if (leaf?.route?.category == null) return undefined;
    const names = namesOf(pathname);
    if (names === undefined) return undefined;
    const { paramNames, paramSegments } = leaf;
    const params: Record<string, string> = paramNames.length === 0 ? NO_PARAMS : {};
    for (let i = 0; i < paramNames.length; i++) {
      const value = decodeSegment(pathname, paramSegments[i] as number);
      if (value === undefined) return undefined;
      params[paramNames[i] as string] = value;
    }
    const route = leaf.route as RouteMatch['route'];
    return { category: route.category, appKey: names.appKey, org: names.org, app: names.app, params, route };
  };

  /** The app a path names: decoded and keyed once while it is among the `MAX_CACHED_APPS` kept. */
  const namesOf = (pathname: string): AppNames | undefined => {
    const raw = pathname.slice(0, bounds[3]);
    let names = apps.get(raw);
    if (names !== undefined) return names;
    const org = decodeSegment(pathname, 0);
    const app = decodeSegment(pathname, 1);
    if (org === undefined || app === undefined) return undefined;
    names = { org, app, appKey: appKeyOf(org, app, nameCase) };
    if (raw.length <= MAX_CACHED_NAME_CHARS) apps.set(raw, names); // a client's 16 KB name is not kept
    return names;
  };

  return lookup;
}

function splitSegments(path: string, end: number): number {
  let count = 0;
  let start = 1;
  while (start <= end) {
    if (count === MAX_SEGMENTS) return 0;
    let stop = path.indexOf('/', start);
    if (stop === -1 || stop > end) stop = end;
    if (stop === start) return 0; // an empty segment: no parameter or literal matches it
    bounds[count * 2] = start;
    bounds[count * 2 + 1] = stop;
    count++;
    start = stop + 1;
  }
  return count;
}

function walk(node: TrieNode, path: string, depth: number, count: number): TrieNode | undefined {
  if (depth === count) return node.route === undefined ? undefined : node;
  const start = bounds[depth * 2] as number;
  const length = (bounds[depth * 2 + 1] as number) - start;
  const candidates = node.byLength[length];
  if (candidates !== undefined) {
    for (let c = 0; c < candidates.length; c++) {
      const i = candidates[c] as number;
      if (sameLiteral(path, start, node.literals[i] as string)) {
        const leaf = walk(node.next[i] as TrieNode, path, depth + 1, count);
        if (leaf !== undefined) return leaf;
        break; // literals are distinct: no other one can match this segment
      }
    }
  }
  return node.param === undefined ? undefined : walk(node.param, path, depth + 1, count);
}

/**
 * Whether `literal` (lower case) stands in `path` at `start`, ASCII letters compared without case and
 * every other character as it is: a case-insensitive regular expression without the `u` flag never
 * folds a non-ASCII character onto an ASCII one.
 */
export function sameLiteral(path: string, start: number, literal: string): boolean {
  if (path.startsWith(literal, start)) return true; // as written, lower case: most requests
  for (let i = 0; i < literal.length; i++) {
    let code = path.charCodeAt(start + i);
    if (code >= 65 && code <= 90) code += 32;
    if (code !== literal.charCodeAt(i)) return false;
  }
  return true;
}

/** A segment percent-decoded as Express decodes parameters; `undefined` where Express answers 400. */
function decodeSegment(path: string, segment: number): string | undefined {
  const raw = path.slice(bounds[segment * 2], bounds[segment * 2 + 1]);
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}
