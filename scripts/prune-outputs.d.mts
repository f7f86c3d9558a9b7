/** The files deleted from the outDir of the project `configPath`: those no current source of it emits. */
export function pruneOutputs(configPath: string): string[];
