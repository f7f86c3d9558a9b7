import * as commonNamespace from '@nestjs/common';
import * as coreNamespace from '@nestjs/core';

/**
 * Nest 12 is ESM; Nest 11 and older are CommonJS, whose named exports Node reads statically from
 * the compiled `exports.X = …` and `tslib.__exportStar(require(…), exports)` lines. Should that
 * reading miss a name (a bundler, a future build), `default` is the whole `module.exports`; an ESM
 * Nest has no default export, so this is the namespace itself there.
 */
const wholeModule = <T extends object>(namespace: T): T => (namespace as { default?: T }).default ?? namespace;

export const common: typeof commonNamespace = wholeModule(commonNamespace);
export const core: typeof coreNamespace = wholeModule(coreNamespace);
