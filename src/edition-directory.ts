import type { Request } from 'express';
import { assertEdition, type Config, type Edition } from './config.js';
import { describe, withTimeout } from './store/failover-store.js';

/** A failed resolver is asked again after this, not on every request. */
const RETRY_FAILED_RESOLVER_MS = 1000;

interface CachedEdition {
  edition: Edition | Promise<Edition>;
  expiresAt: number;
}

/**
 * Which edition each app is on: a run-time choice (`setEdition`) first, then the configured value or
 * resolver. A resolver's answers are cached per app for `editionCacheMs`; concurrent requests share
 * one pending call. A resolver that fails, names no edition of the table, or has not answered within
 * `resolverTimeoutMs` leaves the app on the table's first (most restrictive) edition until the next
 * try, with a warning.
 */
export class EditionDirectory {
  private readonly chosen = new Map<string, Edition>();
  private readonly resolved = new Map<string, CachedEdition>();

  constructor(private readonly config: Config) {}

  set(appKey: string, edition: Edition): void {
    assertEdition(this.config.editions, edition, 'setEdition');
    this.chosen.set(appKey, edition);
  }

  /** The edition as far as known without calling the resolver: the table's first until it answered. */
  known(appKey: string): Edition {
    const chosen = this.chosen.get(appKey);
    if (chosen !== undefined) return chosen;
    const { edition } = this.config;
    if (typeof edition === 'string') return edition;
    const cached = this.resolved.get(appKey)?.edition;
    return typeof cached === 'string' ? cached : (this.config.editions[0] as Edition);
  }

  editionOf(appKey: string, req: Request): Edition | Promise<Edition> {
    const chosen = this.chosen.get(appKey);
    if (chosen !== undefined) return chosen;
    const { edition } = this.config;
    if (typeof edition === 'string') return edition;
    const now = Date.now();
    const cached = this.resolved.get(appKey);
    if (cached !== undefined && cached.expiresAt > now) return cached.edition;
    if (this.resolved.size >= this.config.maxCachedApps)
      this.resolved.delete(this.resolved.keys().next().value as string);
    const entry: CachedEdition = {
      edition: this.config.editions[0] as Edition,
      expiresAt: now + this.config.editionCacheMs,
    };
    entry.edition = this.resolve(edition, appKey, req, entry);
    this.resolved.set(appKey, entry);
    return entry.edition;
  }

  private resolve(
    resolver: Exclude<Config['edition'], string>,
    appKey: string,
    req: Request,
    entry: CachedEdition,
  ): Edition | Promise<Edition> {
    const settle = (edition: unknown): Edition => {
      if (typeof edition === 'string' && this.config.editions.includes(edition)) {
        entry.edition = edition;
        return edition;
      }
      return this.fail(appKey, entry, `answered ${JSON.stringify(edition)}, which the table does not name`);
    };
    try {
      const answer = resolver(appKey, req);
      return answer instanceof Promise
        ? withTimeout(answer, this.config.resolverTimeoutMs, 'it').then(settle, (error: unknown) =>
            this.fail(appKey, entry, describe(error)),
          )
        : settle(answer);
    } catch (error) {
      return this.fail(appKey, entry, describe(error));
    }
  }

  private fail(appKey: string, entry: CachedEdition, why: string): Edition {
    const fallback = this.config.editions[0] as Edition;
    this.config.logger.warn(`im-rate-limit: the edition resolver failed for ${appKey} (${why}); using ${fallback}`);
    entry.edition = fallback;
    entry.expiresAt = Date.now() + RETRY_FAILED_RESOLVER_MS;
    return fallback;
  }
}
