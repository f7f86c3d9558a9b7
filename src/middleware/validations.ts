import cluster from 'node:cluster';
import type { IncomingMessage } from 'node:http';
import parseurl from 'parseurl';
import type { Config } from '../config.js';
import { ImRateLimitError, type WarningCode, warningCodes } from '../errors.js';
import type { RouteMatch } from '../limits/classify.js';
import { logWarning } from '../log.js';
import { MemoryStore } from '../store/memory-store.js';
import { classify, routedPathOf } from './classify-request.js';

/** Requests the middleware sees, none of them a catalog route, before it says it is mounted wrong. */
const UNCLASSIFIED_LIMIT = 100;
/** The distinct paths that warning quotes, and the characters kept of each. */
const QUOTED_PATHS = 5;
const QUOTED_CHARS = 60;

const noParserProblem =
  'this route is limited by its JSON body, but no body parser ran before the limiter: ' +
  'mount express.json() before it, or pass the parser as its bodyParser option';

/**
 * The checks for a limiter mounted wrong, after express-rate-limit's validations: each mistake is
 * logged once per limiter through `logger.warn`, under its code, unless `validate` silences it.
 * Each costs the hot path a comparison at most once it has fired or been ruled out.
 */
export class Validations {
  /** The codes enabled and not logged yet. */
  private readonly armed: Set<WarningCode>;
  /** Requests the middleware saw, none classified; -1 once one was, or the check is off or done. */
  private unclassified: number;
  private readonly paths = new Set<string>();
  /** Prefixes below which those paths are catalog routes: what `basePath` should say. */
  private readonly prefixes = new Set<string>();

  constructor(private readonly config: Pick<Config, 'validate' | 'logger' | 'store'>) {
    const { validate } = config;
    this.armed = new Set(
      warningCodes.filter((code) => (typeof validate === 'boolean' ? validate : validate[code] !== false)),
    );
    this.unclassified = this.armed.has('WRN_NOTHING_CLASSIFIED') ? 0 : -1;
    const instance = process.env.NODE_APP_INSTANCE;
    if (config.store instanceof MemoryStore && (cluster.isWorker || instance !== undefined)) {
      this.warn(
        'WRN_MEMORY_STORE_MULTI_PROCESS',
        () =>
          `this process is ${cluster.isWorker ? 'a cluster worker' : `PM2 instance ${instance}`}, one of several, ` +
          'and the limiter counts in a MemoryStore (the default), which no other process sees: together they ' +
          'admit every limit once per process. Share a RedisStore between them',
      );
    }
  }

  /** The middleware classified a request into `match`, or found it outside the catalog; returns `match`. */
  classified(req: IncomingMessage, match: RouteMatch | undefined): RouteMatch | undefined {
    if (this.unclassified < 0) return match;
    if (match !== undefined) {
      this.unclassified = -1;
      this.paths.clear();
      return match;
    }
    if (this.paths.size < QUOTED_PATHS) {
      const path = routedPathOf(req) ?? '';
      const quoted = quote(path);
      if (!this.paths.has(quoted)) {
        this.paths.add(quoted);
        const prefix = catalogPrefixOf(req.method ?? '', path);
        if (prefix !== undefined) this.prefixes.add(quote(prefix));
      }
    }
    if (++this.unclassified === UNCLASSIFIED_LIMIT) {
      this.unclassified = -1;
      const prefixes = [...this.prefixes];
      const advice =
        prefixes.length === 0
          ? "Mount it where the catalog's paths begin, or give the prefix they have as its basePath option"
          : `Below ${prefixes.join(', ')} they are catalog routes: give that prefix as the basePath option`;
      this.warn(
        'WRN_NOTHING_CLASSIFIED',
        () =>
          `${UNCLASSIFIED_LIMIT} requests reached the limiter and none was a route of the IM REST catalog ` +
          `(/{org}/{app}/…); it saw ${[...this.paths].join(', ')}. ${advice} (docs/mounting.md → Mount points and basePath)`,
      );
      this.paths.clear();
      this.prefixes.clear();
    }
    return match;
  }

  /** A request another limiter instance has counted reached this one, which lets it through uncounted. */
  countedTwice(req: IncomingMessage): void {
    this.warn(
      'WRN_COUNTED_TWICE',
      () =>
        `${req.method} ${quote(parseurl(req)?.pathname ?? '')} was counted by another im-rate-limit instance, ` +
        'and this one lets it through uncounted: mount one limiter, and use its guard() for routes outside ' +
        'the catalog',
    );
  }

  /** The error for a route whose checks need the body when no parser ran before the limiter and none was given. */
  noParser(): ImRateLimitError {
    this.warn('WRN_PARSER_AFTER_LIMITER', () => noParserProblem);
    return new ImRateLimitError('ERR_NO_BODY_PARSER', `im-rate-limit: ${noParserProblem}`);
  }

  private warn(code: WarningCode, message: () => string): void {
    if (this.armed.delete(code)) logWarning(this.config.logger, code, message());
  }
}

/** The leading segments (at most 4) below which `path` is a catalog route, if any. */
function catalogPrefixOf(method: string, path: string): string | undefined {
  let slash = 0;
  for (let segments = 1; segments <= 4; segments++) {
    slash = path.indexOf('/', slash + 1);
    if (slash <= 0) return undefined;
    if (classify(method, path.slice(slash)) !== undefined) return path.slice(0, slash);
  }
  return undefined;
}

/** A client's path, quoted and cut short for a log line. */
function quote(path: string): string {
  return JSON.stringify(path.length > QUOTED_CHARS ? `${path.slice(0, QUOTED_CHARS)}…` : path);
}
