/**
 * The files deleted for the project `configPath`: the outputs no current source of it emits, and
 * its build info when an output of a source it built is missing.
 */
export function pruneOutputs(configPath: string): string[];
