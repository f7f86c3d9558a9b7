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
  /** Parameter names, and the segment each is in (0 is the org, 1 the app). */
  readonly paramNames: readonly string[];
  readonly paramSegments: readonly number[];
}

interface TrieNode {
  /**
   * Literal segments, lower-cased (Express routes case-insensitively, so must we), and where each
   * leads. Compared in place: faster here than slicing the segment out for a Map lookup.
   */
  readonly literals: string[];
  readonly next: TrieNode[];
  param: TrieNode | undefined;
  leaf: Leaf | undefined;
}

const newNode = (): TrieNode => ({ literals: [], next: [], param: undefined, leaf: undefined });

/** The deepest route has 8 segments; anything deeper matches nothing. */
const MAX_SEGMENTS = 16;
/** Start and end of each segment of the path being classified: reused, classification is synchronous. */
const bounds = new Int32Array(MAX_SEGMENTS * 2);
const SLASH = 47;

/**
 * Compiles a route catalog into one segment trie per method. Literal segments are tried before
 * parameters, with backtracking, so `users/batch/status` wins over `users/{username}/status`
 * while a user named `batch` still reaches `users/{username}/contacts`. A lookup walks the path in
 * place (no split, no substring but the values it returns).
 */
export function compileClassifier(catalog: readonly Route[] = defaultRoutes): Classifier {
  const roots = new Map<string, TrieNode>();
  for (const route of catalog) {
    if (route.category === null) continue; // not limited: let it pass untouched
    let node = roots.get(route.method) ?? newNode();
    roots.set(route.method, node);
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
      const literal = segment.toLowerCase();
      let index = node.literals.indexOf(literal);
      if (index === -1) index = node.literals.push(literal) - 1;
      node.next[index] ??= newNode();
      node = node.next[index] as TrieNode;
    });
    node.leaf ??= { route: route as Leaf['route'], paramNames, paramSegments };
  }
  const get = roots.get('GET');
  if (get) roots.set('HEAD', get); // Express answers HEAD with the GET route

  return function classify(method, path) {
    if (typeof method !== 'string' || typeof path !== 'string') return undefined;
    const root = roots.get(method) ?? roots.get(method.toUpperCase());
    if (root === undefined) return undefined;
    let end = path.indexOf('?');
    if (end === -1) end = path.length;
    const percent = path.indexOf('%');
    const text = percent === -1 || percent > end ? path : decodePath(path.slice(0, end));
    if (text !== path) end = text.length;
    const lower = text.toLowerCase();
    // a character whose lower case is longer (İ) would shift positions: match those paths as they are
    const keys = lower.length === text.length ? lower : text;
    const afterApp = segmentAt(keys, segmentAt(keys, 0, end, 0), end, 1);
    if (afterApp === -1) return undefined;
    const leaf = walk(root, keys, afterApp, end, 2);
    if (leaf === undefined) return undefined;
    const org = text.slice(bounds[0], bounds[1]);
    const app = text.slice(bounds[2], bounds[3]);
    const params: Record<string, string> = {};
    const { paramNames, paramSegments } = leaf;
    for (let i = 0; i < paramNames.length; i++) {
      const segment = paramSegments[i] as number;
      params[paramNames[i] as string] = text.slice(bounds[segment * 2], bounds[segment * 2 + 1]);
    }
    return { category: leaf.route.category, appKey: `${org}#${app}`, org, app, params, route: leaf.route };
  };
}

/**
 * Records the bounds of segment number `depth`, the first after `from` past any slashes (so `//`
 * and a trailing `/` count for nothing); answers where it ends, or -1 when there is none.
 */
function segmentAt(keys: string, from: number, end: number, depth: number): number {
  if (from === -1 || depth >= MAX_SEGMENTS) return -1;
  let start = from;
  while (start < end && keys.charCodeAt(start) === SLASH) start++;
  if (start >= end) return -1;
  let stop = keys.indexOf('/', start);
  if (stop === -1 || stop > end) stop = end;
  bounds[depth * 2] = start;
  bounds[depth * 2 + 1] = stop;
  return stop;
}

function walk(node: TrieNode, keys: string, from: number, end: number, depth: number): Leaf | undefined {
  const stop = segmentAt(keys, from, end, depth);
  if (stop === -1) return from === -1 ? undefined : node.leaf;
  const start = bounds[depth * 2] as number;
  const { literals } = node;
  for (let i = 0; i < literals.length; i++) {
    const literal = literals[i] as string;
    if (literal.length === stop - start && keys.startsWith(literal, start)) {
      const leaf = walk(node.next[i] as TrieNode, keys, stop, end, depth + 1);
      if (leaf !== undefined) return leaf;
      break; // literals are distinct: no other one can match this segment
    }
  }
  return node.param === undefined ? undefined : walk(node.param, keys, stop, end, depth + 1);
}

/**
 * The path with each segment percent-decoded; a segment that is malformed, or that would decode to
 * a `/`, stays as it came rather than throw or change the path's shape.
 */
function decodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => {
      if (!segment.includes('%')) return segment;
      try {
        const decoded = decodeURIComponent(segment);
        return decoded.includes('/') ? segment : decoded;
      } catch {
        return segment;
      }
    })
    .join('/');
}

/** Classifies a request against the default catalog (`routes.json`); pure and never throws. */
export const classify: Classifier = compileClassifier();
