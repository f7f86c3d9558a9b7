import { routes as defaultRoutes, type Route } from './routes.js';
import type { Category } from './table.js';

/** A request matched to a catalog route of a category. */
export interface RouteMatch {
  readonly category: Category;
  /** `org#app`: the app the quota belongs to (SPEC §1). */
  readonly appKey: string;
  readonly org: string;
  readonly app: string;
  /** The route's parameters by name, percent-decoded (`{ username: 'alice' }`). */
  readonly params: Readonly<Record<string, string>>;
  readonly route: Route;
}

export type Classifier = (method: string, path: string) => RouteMatch | undefined;

interface Leaf {
  readonly route: Route & { readonly category: Category };
  /** `[position among the segments below the app, parameter name]` */
  readonly params: ReadonlyArray<readonly [number, string]>;
}

interface TrieNode {
  /** Literal segments, lower-cased: Express routes case-insensitively, so must we. */
  readonly literals: Map<string, TrieNode>;
  param: TrieNode | undefined;
  leaf: Leaf | undefined;
}

const newNode = (): TrieNode => ({ literals: new Map(), param: undefined, leaf: undefined });

/**
 * Compiles a route catalog into one segment trie per method. Literal segments are tried before
 * parameters, with backtracking, so `users/batch/status` wins over `users/{username}/status`
 * while a user named `batch` still reaches `users/{username}/contacts`.
 */
export function compileClassifier(catalog: readonly Route[] = defaultRoutes): Classifier {
  const roots = new Map<string, TrieNode>();
  for (const route of catalog) {
    if (route.category === null) continue; // not limited: let it pass untouched
    let node = roots.get(route.method) ?? newNode();
    roots.set(route.method, node);
    const params: Array<readonly [number, string]> = [];
    route.path.split('/').forEach((segment, position) => {
      if (segment.startsWith('{')) {
        params.push([position, segment.slice(1, -1)]);
        node.param ??= newNode();
        node = node.param;
      } else {
        const key = segment.toLowerCase();
        const next = node.literals.get(key) ?? newNode();
        node.literals.set(key, next);
        node = next;
      }
    });
    node.leaf ??= { route: route as Leaf['route'], params };
  }
  const get = roots.get('GET');
  if (get) roots.set('HEAD', get); // Express answers HEAD with the GET route

  return function classify(method, path) {
    if (typeof method !== 'string' || typeof path !== 'string') return undefined;
    const root = roots.get(method) ?? roots.get(method.toUpperCase());
    if (root === undefined) return undefined;
    const segments = splitPath(path);
    if (segments.length < 3) return undefined;
    const leaf = walk(root, segments, 2);
    if (leaf === undefined) return undefined;
    const org = segments[0] as string;
    const app = segments[1] as string;
    const params: Record<string, string> = {};
    for (const [position, name] of leaf.params) params[name] = segments[position + 2] as string;
    return { category: leaf.route.category, appKey: `${org}#${app}`, org, app, params, route: leaf.route };
  };
}

function walk(node: TrieNode, segments: readonly string[], index: number): Leaf | undefined {
  if (index === segments.length) return node.leaf;
  const segment = segments[index] as string;
  const literal = node.literals.get(segment) ?? node.literals.get(segment.toLowerCase());
  if (literal !== undefined) {
    const leaf = walk(literal, segments, index + 1);
    if (leaf !== undefined) return leaf;
  }
  return node.param === undefined ? undefined : walk(node.param, segments, index + 1);
}

/** Path segments without the query string, empty segments (`//`, a trailing `/`) or percent-encoding. */
function splitPath(path: string): string[] {
  const segments: string[] = [];
  let end = path.indexOf('?');
  if (end === -1) end = path.length;
  let start = 0;
  while (start < end) {
    let slash = path.indexOf('/', start);
    if (slash === -1 || slash > end) slash = end;
    if (slash > start) segments.push(decodeSegment(path.slice(start, slash)));
    start = slash + 1;
  }
  return segments;
}

function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // malformed escapes: match the raw text rather than throw
  }
}

/** Classifies a request against the default catalog (`routes.json`); pure and never throws. */
export const classify: Classifier = compileClassifier();
