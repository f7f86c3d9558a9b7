/**
 * GETs one URL as a client of the IM server would, keeping how long the slowest request waited:
 * what an outage test bounds by the store's timeout. `slowestMs` can be reset between phases.
 */
export function timedClient(url: string) {
  const timer = {
    slowestMs: 0,
    async get(): Promise<number> {
      const started = performance.now();
      const response = await fetch(url);
      await response.arrayBuffer();
      timer.slowestMs = Math.max(timer.slowestMs, performance.now() - started);
      return response.status;
    },
  };
  return timer;
}
