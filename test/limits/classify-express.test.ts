import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify, type RouteMatch, routes } from '../../src/catalog.js';
import { type Dispatch, dispatch, type OracleServer, oracleApp, serve } from '../support/express-oracle.js';

/**
 * Differential test: for any request target (`req.url` as the server sees it), classify answers
 * the route Express dispatches the request to, with the same org, app and decoded params, or both
 * answer none. Express is the oracle, so whatever Express does is right by definition; a route
 * of `category: null` is not limited, so "Express ran it" means classify answers undefined.
 */

/** Requests that once got past the classifier, or that fast-check found: each says what it shows. */
const regressions: Array<{ name: string; method: string; target: string }> = [
  { name: 'a fragment is not part of the path', method: 'POST', target: '/acme/chat/messages/users#' },
  { name: 'the absolute form', method: 'POST', target: 'http://x/acme/chat/messages/users' },
  { name: 'a param whose lower case is longer (İ)', method: 'GET', target: '/acme/chat/USERS/al%C4%B0ce' },
  { name: 'Express does not decode literal segments', method: 'GET', target: '/acme/chat/%75sers/alice' },
  { name: 'an empty segment between org and app', method: 'GET', target: '/acme//chat/users/alice' },
  { name: 'two trailing slashes', method: 'GET', target: '/acme/chat/users/alice//' },
  { name: 'literal or param: the first registered wins', method: 'GET', target: '/acme/chat/metadata/user/capacity' },
  { name: 'a param that fails to decode is a 400', method: 'GET', target: '/acme/chat/users/%zz' },
  // found by the property below
  { name: 'a fragment cuts the path short, even mid-path', method: 'POST', target: '/acme/chat/users/#/deactivate' },
  { name: 'a fragment ends a param', method: 'GET', target: '/acme/chat/users/a#b' },
  { name: 'userinfo and port', method: 'GET', target: 'https://u:p@host:8080/acme/chat/users/alice' },
  { name: 'an encoded slash in a param decodes to a slash', method: 'GET', target: '/acme/chat/users/a%2Fb' },
  { name: 'an empty first segment', method: 'GET', target: '//acme/chat/users/alice' },
  { name: 'two trailing slashes after a literal', method: 'GET', target: '/acme/chat/users//' },
  { name: 'literal or param, again', method: 'GET', target: '/acme/chat/chatrooms/super_admin' },
  { name: 'an org that fails to decode is a 400', method: 'GET', target: '/%zz/chat/users' },
  { name: 'a truncated UTF-8 escape is a 400', method: 'GET', target: '/acme/chat/users/%E0%A4' },
  { name: 'the Kelvin sign, escaped, is no k to Express', method: 'PUT', target: '/acme/chat/push/nic%E2%84%AAname' },
  { name: 'behind a #, url.parse reads a backslash as a slash', method: 'GET', target: '/acme\\chat/users#' },
  { name: 'in the absolute form, a backslash is a slash', method: 'GET', target: 'http://x/acme\\chat/users' },
  // the rest cannot come through Node's parser, but any req.url can come from a proxy or a rewrite
  { name: 'url.parse trims trailing white space', method: 'POST', target: '/acme/chat/mutes\n' },
  { name: 'a param of trailing white space is trimmed away', method: 'DELETE', target: '/acme/chat/users/\t' },
  { name: 'white space is trimmed off a param', method: 'GET', target: '/acme/chat/users/alice ' },
  { name: 'the Kelvin sign is no k to Express', method: 'POST', target: '/acme/chat/bloc\u212as/check' },
  { name: 'a raw İ in a param next to an upper-case literal', method: 'GET', target: '/acme/chat/USERS/\u0130' },
];

const methods = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'get', 'head', 'Post', 'OPTIONS', 'PATCH'];
const literals = [...new Set(routes.flatMap((r) => r.path.split('/')).filter((s) => !s.startsWith('{')))];
const maxParams = Math.max(...routes.map((r) => r.path.split('{').length - 1));
const routeByKey = new Map(routes.map((r) => [`${r.method} ${r.path}`, r]));

/** The route, org, app and params of a classification, in one shape for both sides. */
interface Answer {
  method: string;
  path: string;
  org: string | undefined;
  app: string | undefined;
  params: Record<string, string>;
}

const answerOf = (match: RouteMatch | undefined): Answer | undefined =>
  match && {
    method: match.route.method,
    path: match.route.path,
    org: match.org,
    app: match.app,
    params: { ...match.params },
  };

/** What classify should answer for what Express did. */
function expectedOf(dispatched: Dispatch): Answer | undefined {
  if ('none' in dispatched) return undefined;
  if (routeByKey.get(`${dispatched.method} ${dispatched.path}`)?.category === null) return undefined;
  const { org, app, ...params } = dispatched.params;
  return { method: dispatched.method, path: dispatched.path, org, app, params };
}

/** A target fit for a message: long runs of one character are shortened. */
const show = (target: string): string =>
  JSON.stringify(target).replace(/(.)\1{15,}/g, (run, c: string) => `${c}…(×${run.length})`);

const describeDispatch = (d: Dispatch): string =>
  'none' in d ? `ran no route: ${d.none}` : `ran ${d.method} ${d.path} with ${JSON.stringify(d.params)}`;

function expectAgreement(method: string, target: string, dispatched: Dispatch): void {
  expect(
    answerOf(classify(method, target)),
    `${method} ${show(target)}: Express ${describeDispatch(dispatched)}`,
  ).toStrictEqual(expectedOf(dispatched));
}

// ---------------------------------------------------------------------------------------------
// Generators: a catalog route made concrete, then zero or more mutations of its target.

/** A request target taken apart; mutations edit the parts, `render` joins them. */
interface Parts {
  origin: string;
  segments: string[];
  query: string;
  fragment: string;
}
type Mutation = (parts: Parts) => void;

const render = (p: Parts): string => `${p.origin}/${p.segments.join('/')}${p.query}${p.fragment}`;

/** The UTF-8 bytes of `text` as raw bytes read in `req.url`, one latin1 character each. */
const utf8Bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

const percentEncode = (text: string, lower: boolean): string =>
  [...Buffer.from(text, 'utf8')]
    .map((byte) => {
      const hex = byte.toString(16).padStart(2, '0');
      return `%${lower ? hex : hex.toUpperCase()}`;
    })
    .join('');

/** Applies `edit` to segment number `n` (modulo their number). */
const editSegment = (p: Parts, n: number, edit: (segment: string) => string): void => {
  const i = n % p.segments.length;
  p.segments[i] = edit(p.segments[i] ?? '');
};

const insertAt = (segment: string, n: number, text: string): string => {
  const i = n % (segment.length + 1);
  return segment.slice(0, i) + text + segment.slice(i);
};

/** Characters whose case mapping is special, and the ASCII letter each is mistaken for. */
const specials: ReadonlyArray<readonly [string, string]> = [
  ['İ', 'i'], // U+0130: lower case is two code units
  ['ı', 'i'], // U+0131: upper case is I
  ['ſ', 's'], // U+017F: upper case is S
  ['\u212a', 'k'], // Kelvin sign: lower case is k
  ['ß', 's'], // upper case is SS
  ['Σ', 's'], // lower case depends on position (σ, ς)
];

/** A parameter, org or app value as it appears in the target; mostly realistic, so most cases route. */
const value = fc.oneof(
  {
    weight: 24,
    arbitrary: fc.constantFrom('acme', 'chat', 'alice', 'Alice.Smith-01_X', 'bob_2', '1234567890123', 'a,b,c', 'f-42'),
  },
  // a value that is also a literal of the catalog (users/batch/status against users/{username}/status)
  { weight: 3, arbitrary: fc.constantFrom(...literals) },
  // unicode, percent-encoded as a client would, raw, or as its UTF-8 bytes
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).map(utf8Bytes) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 6 }) },
  // empty, dot segments, escapes and delimiters
  { weight: 1, arbitrary: fc.constantFrom('', '.', '..', '%2e%2e', '%', '%25', '%zz', '#', '?', '%2F', 'a%2fb') },
  // special case mappings, and characters url.parse escapes
  { weight: 1, arbitrary: fc.constantFrom('İ', 'ſ', 'ß', "a'b", '{x}', 'a|b^`') },
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // a fragment: Express ignores it
  fc.constantFrom('#', '#x/y', '#/acme/chat/users').map((fragment) => (p: Parts) => {
    p.fragment = fragment;
  }),
  // the absolute form, which Express routes on its path
  fc
    .constantFrom(
      'http://x',
      'https://host:8080',
      'http://user:pw@x',
      'https://user@host:8080',
      'HTTP://X',
      'http:',
      'ftp://x',
    )
    .map((origin) => (p: Parts) => {
      p.origin = origin;
    }),
  // a query string, with delimiters in it
  fc
    .constantFrom('?', '?a=1', '?next=/acme/chat/users/x', '?a=?b', '?x=#y', '?x=%zz&y=%', '?/..')
    .map((query) => (p: Parts) => {
      p.query = query;
    }),
  // one character of a segment percent-encoded (%75sers, %25, %2E, UTF-8 escapes)
  fc.tuple(fc.nat(), fc.nat(), fc.boolean()).map(([n, at, lower]) => (p: Parts) => {
    editSegment(p, n, (segment) => {
      const chars = [...segment];
      if (chars.length === 0) return segment;
      const i = at % chars.length;
      chars[i] = percentEncode(chars[i] ?? '', lower);
      return chars.join('');
    });
  }),
  // a slash percent-encoded: two segments become one
  fc.tuple(fc.nat(), fc.constantFrom('%2F', '%2f')).map(([n, slash]) => (p: Parts) => {
    const i = n % p.segments.length;
    p.segments.splice(i, 2, p.segments.slice(i, i + 2).join(slash));
  }),
  // a malformed escape
  fc
    .tuple(fc.nat(), fc.nat(), fc.constantFrom('%', '%zz', '%E0%A4', '%C4', '%2', '%C0%AF'))
    .map(([n, at, malformed]) => (p: Parts) => {
      editSegment(p, n, (segment) => insertAt(segment, at, malformed));
    }),
  // upper and mixed case, of literals and of org/app
  fc.tuple(fc.nat(), fc.boolean()).map(([n, mixed]) => (p: Parts) => {
    editSegment(p, n, (segment) =>
      mixed ? [...segment].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('') : segment.toUpperCase(),
    );
  }),
  // a special-case character in place of the ASCII letter it maps to (else inserted), raw, as bytes or escaped
  fc
    .tuple(fc.nat(), fc.nat(), fc.constantFrom(...specials), fc.constantFrom('raw', 'bytes', 'escaped'))
    .map(([n, at, [special, letter], form]) => (p: Parts) => {
      const text = form === 'raw' ? special : form === 'bytes' ? utf8Bytes(special) : percentEncode(special, false);
      editSegment(p, n, (segment) => {
        const i = segment.toLowerCase().indexOf(letter);
        return i === -1 ? insertAt(segment, at, text) : segment.slice(0, i) + text + segment.slice(i + 1);
      });
    }),
  // a dot segment, plain or escaped
  fc.tuple(fc.nat(), fc.constantFrom('.', '..', '%2e%2e', '%2E', '.%2e')).map(([n, dots]) => (p: Parts) => {
    p.segments.splice(n % (p.segments.length + 1), 0, dots);
  }),
  // an empty segment: repeated slashes
  fc.nat().map((n) => (p: Parts) => {
    p.segments.splice(n % (p.segments.length + 1), 0, '');
  }),
  // one or two trailing slashes
  fc.constantFrom(1, 2).map((count) => (p: Parts) => {
    p.segments.push(...Array<string>(count).fill(''));
  }),
  // a very long segment
  fc.tuple(fc.nat(), fc.integer({ min: 10_000, max: 12_000 })).map(([n, length]) => (p: Parts) => {
    editSegment(p, n, () => 'a'.repeat(length));
  }),
  // a backslash for a slash, or within a segment
  fc.tuple(fc.nat(), fc.nat(), fc.boolean()).map(([n, at, forSlash]) => (p: Parts) => {
    if (!forSlash) return editSegment(p, n, (segment) => insertAt(segment, at, '\\'));
    const i = n % p.segments.length;
    p.segments.splice(i, 2, p.segments.slice(i, i + 2).join('\\'));
  }),
  // white space and characters that send parseurl to url.parse, which trims or escapes them
  fc
    .tuple(fc.nat(), fc.nat(), fc.constantFrom(' ', '\t', '\n', '\r', '\f', '\0', '\u00a0', '\ufeff'))
    .map(([n, at, space]) => (p: Parts) => {
      editSegment(p, n, (segment) => insertAt(segment, at, space));
    }),
  // non-ASCII as raw UTF-8 bytes
  fc
    .tuple(fc.nat(), fc.nat(), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }))
    .map(([n, at, text]) => (p: Parts) => {
      editSegment(p, n, (segment) => insertAt(segment, at, utf8Bytes(text)));
    }),
);

/** One request; prints as `METHOD "target"` in fast-check's reports. */
const asCase = (method: string, target: string) => ({
  method,
  target,
  [fc.toStringMethod]: () => `${method} ${show(target)}`,
});

const fromCatalog = fc
  .record({
    route: fc.constantFrom(...routes),
    org: value,
    app: value,
    values: fc.array(value, { minLength: maxParams, maxLength: maxParams }),
    // mostly the route's own method, so that most cases can still reach it
    method: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, fc.constantFrom(...methods)),
    mutations: fc.array(mutation, { maxLength: 2 }),
  })
  .map(({ route, org, app, values, method, mutations }) => {
    let next = 0;
    const segments = route.path.split('/').map((s) => (s.startsWith('{') ? (values[next++] ?? '') : s));
    const parts: Parts = { origin: '', segments: [org, app, ...segments], query: '', fragment: '' };
    for (const mutate of mutations) mutate(parts);
    return asCase(method ?? route.method, render(parts));
  });

const garbage = fc
  .tuple(
    fc.constantFrom(...methods),
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc
        .array(fc.constantFrom('/', 'acme', 'chat', 'users', 'messages', '%', '%2F', '..', '?', '#', '\\', ' '), {
          maxLength: 10,
        })
        .map((pieces) => pieces.join('')),
    ),
  )
  .map(([method, target]) => asCase(method, target));

const requestCase = fc.oneof({ weight: 9, arbitrary: fromCatalog }, { weight: 1, arbitrary: garbage });

// ---------------------------------------------------------------------------------------------

describe('classify agrees with Express on every request target', () => {
  const app = oracleApp(routes);

  it.each(regressions.map((r) => [`${r.name}: ${r.method} ${show(r.target)}`, r] as const))(
    '%s',
    async (_, { method, target }) => {
      expectAgreement(method, target, await dispatch(app, method, target));
    },
  );

  // On failure fast-check reports the seed and path: replay with fc.assert(..., { seed, path }).
  it('on 10,000 random targets, dispatched in-process', async () => {
    let runs = 0;
    let routed = 0;
    await fc.assert(
      fc.asyncProperty(requestCase, async ({ method, target }) => {
        const dispatched = await dispatch(app, method, target);
        runs++;
        if (!('none' in dispatched)) routed++;
        expectAgreement(method, target, dispatched);
      }),
      { numRuns: 10_000 },
    );
    // a test whose cases all miss the catalog would prove little
    expect(routed / runs).toBeGreaterThan(0.3);
  }, 120_000);

  describe('over a loopback HTTP server, with the HTTP parser of Node in the loop', () => {
    let server: OracleServer;
    beforeAll(async () => {
      server = await serve(oracleApp(routes));
    });
    afterAll(() => server.close());

    it('on 400 random requests', async () => {
      let runs = 0;
      let parsed = 0;
      let routed = 0;
      await fc.assert(
        // a CR or LF would end the request line: another request, not another target
        fc.asyncProperty(
          requestCase.filter(({ target }) => !/[\r\n]/.test(target)),
          async ({ method, target }) => {
            const { received, dispatch: dispatched } = await server.send(method, target);
            runs++;
            if (received === undefined) {
              // the parser rejected the request line: nothing is dispatched, nothing classified
              expect(dispatched).toHaveProperty('none');
              return;
            }
            parsed++;
            if (!('none' in dispatched)) routed++;
            expectAgreement(received.method, received.url, dispatched);
          },
        ),
        { numRuns: 400 },
      );
      // fewer than in-process: Node's parser turns away white space and non-ASCII bytes
      expect(parsed / runs).toBeGreaterThan(0.4);
      expect(routed / runs).toBeGreaterThan(0.2);
    }, 120_000);
  });
});
