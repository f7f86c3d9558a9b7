import type { MembershipKind } from '../limits/routes.js';

/**
 * Where the number of groups or chat rooms a user has joined comes from: usually the IM server's
 * own database. `count` may answer synchronously or with a promise.
 */
export interface MembershipSource {
  count(appKey: string, kind: MembershipKind, userId: string): number | Promise<number>;
}
