// The operator's side of the limiter that docs/operating.md shows: type-checked by `npm run typecheck`,
// run by test/examples.test.ts.
import express, { type Express, type RequestHandler } from 'express';
import { type AdminChange, type DecisionEvent, imRateLimit, type Overrides, type RateLimitInfo } from 'im-rate-limit';
import { Registry } from 'prom-client';

/** Where your application logs. */
export interface Log {
  info(event: DecisionEvent): void;
}

// #region controls
export function withControls(app: Express, log: Log, internalKey: string) {
  const limiter = imRateLimit({
    onDecision: (event) => log.info(event), // every classified request, after the decision; never awaited
    mode: (appKey) => (appKey === 'acme#chat' ? 'report' : 'enforce'), // or 'report' for every app
    skip: (req) => req.get('x-internal-key') === internalKey, // neither classified nor counted
    onRefused: (_req, res, refusal) => res.status(refusal.status).json({ code: refusal.error }),
  });
  app.use(limiter);
  app.get('/:org/:app/users', (_req, res) => {
    // what the store decided for this request; absent when it was reported, skipped or admitted uncounted
    const info = res.locals.rateLimit as RateLimitInfo | undefined;
    res.json({ entities: [], remaining: info?.remaining ?? null });
  });
}
// #endregion

// #region metrics
export function withMetrics(app: Express) {
  const registry = new Registry();
  app.use(imRateLimit({ metrics: { registry } })); // appLabel: true adds an `app` label
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
}
// #endregion

/** Where your paid add-ons are kept. */
export interface AddOns {
  addOnsOf(appKey: string): Promise<Overrides | undefined>;
}

// #region run-time
export async function runTimeChanges(db: AddOns) {
  const limiter = imRateLimit({
    // a source instead of a table: asked once per app per editionCacheMs, concurrent requests sharing one call
    overrides: { get: (appKey) => db.addOnsOf(appKey) }, // → { messages: { ratePerSecond: 100 } } or undefined
    editionCacheMs: 60_000,
    resolverTimeoutMs: 1000, // a source that has not answered by then has failed
  });

  await limiter.setOverrides('acme#chat', { messages: { ratePerSecond: 100 } }); // {} for none
  await limiter.setOverrides('acme#chat', undefined); // back to what `overrides` gives
  await limiter.setEdition('acme#chat', 'enterprise');
  const limits = limiter.rules('acme#chat'); // the effective figures: limits.messages.ratePerSecond is 30
  await limiter.setMode('report'); // every app; setMode('acme#chat', 'enforce') one, undefined removes the choice
  const state = await limiter.inspect('acme#chat'); // the buckets as they stand, and why the app has its limits
  await limiter.reset('acme#chat', 'messages'); // its bucket full again (no category: all); the daily quota stays
  await limiter.resetDaily('acme#chat'); // the day's push quota whole again
  return { limits, state };
}
// #endregion

// #region admin
export function withAdmin(app: Express, operatorsOnly: RequestHandler, audit: (change: AdminChange) => void) {
  const limiter = imRateLimit({ onAdminChange: audit }); // every change, from the router or your code
  // before the limiter, under a path of its own, behind your authentication
  app.use('/admin', operatorsOnly, limiter.admin({ actor: (req) => req.get('x-operator') }));
  app.use(express.json(), limiter);
}
// #endregion
