import express from 'express';
import express4 from 'express4';

/**
 * An Express factory: `express()` makes an app, `express.json()` a body parser, `express.Router()` a
 * router. Typed as Express 5 (`@types/express` describes no other); Express 4 is cast to it, for the
 * API the suites use, which both share.
 */
export type ExpressFactory = typeof express;

export interface ExpressVersion {
  /** For a suite's name: `express 5`, `express 4`. */
  readonly name: string;
  readonly express: ExpressFactory;
}

/**
 * The versions the peer range `express >=4.18` covers, newest first, for `describe.each`:
 * `describe.each(expressVersions)('… ($name)', ({ express }) => …)`.
 */
export const expressVersions: readonly ExpressVersion[] = [
  { name: 'express 5', express },
  { name: 'express 4', express: express4 as ExpressFactory },
];
