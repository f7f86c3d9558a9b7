// Every entry point from strict TypeScript (no skipLibCheck), without the optional peers but NestJS:
// a store and a membership source of one's own, typed by the contracts of `im-rate-limit/store`.
import {
  type BasePath,
  type Category,
  type ImErrorCode,
  imRateLimit,
  type LogCode,
  type MembershipSource,
  type MetricsRegistry,
  type Options,
  type Refusal,
  type WarningCode,
  warningCodes,
} from 'im-rate-limit';
import { appKeyOf, classify, type RouteMatch, routes } from 'im-rate-limit/catalog';
import { ImRateLimitCategory, ImRateLimitGuard, ImRateLimitModule } from 'im-rate-limit/nestjs';
import type { Check, MembershipLedger, Reading, Store } from 'im-rate-limit/store';

/** A store that admits everything: enough to type-check the port. */
class OpenStore implements Store {
  take(checks: readonly Check[]): readonly Reading[] {
    return checks.map(() => ({ allowed: true, remaining: 1, resetMs: 0, retryAfterMs: 0 }));
  }
}

const source: MembershipSource = { count: () => 0 };
const basePath: BasePath = /^\/v\d+/;
const registry: MetricsRegistry = { registerMetric: () => {} };
const options: Options = { store: new OpenStore(), membership: source, basePath, metrics: { registry } };
export const limiter = imRateLimit(options);

const match: RouteMatch | undefined = classify('GET', '/acme/chat/users');
const category: Category | undefined = match?.category;
export const catalog = { match, category, routes: routes.length, key: appKeyOf('Acme', 'Chat') };

const silenced: WarningCode = warningCodes[0];
const logged: LogCode = 'WRN_STORE_DOWN';
const answered: ImErrorCode = 'reach_limit';
export const codes = { silenced, logged, answered };
export const onRefused = (refusal: Refusal): ImErrorCode => refusal.error;

export type Ledger = MembershipLedger;
export const nest = [ImRateLimitCategory, ImRateLimitGuard, ImRateLimitModule];
