/**
 * `express4` is an npm alias of Express 4 (`npm:express@^4`), installed so that the suites run on
 * Express 4 and 5. `@types/express` describes Express 5 only: `test/support/express.ts` gives it
 * that type, for the API the suites use, which both versions share.
 */
declare module 'express4' {
  const express4: unknown;
  export default express4;
}
