import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('the metrics option', () => {
  it('does not load prom-client unless the option is set (the built package, in a process of its own)', () => {
    const dist = new URL('../../dist/index.js', import.meta.url).href;
    const script = `
      import { createRequire } from 'node:module';
      const { imRateLimit } = await import(${JSON.stringify(dist)});
      const require = createRequire(import.meta.url);
      const loaded = () => Object.keys(require.cache).some((path) => path.includes('/node_modules/prom-client/'));
      const limiter = imRateLimit({ logger: { warn() {} }, onDecision() {} });
      const res = { statusCode: 200, locals: {}, setHeader() {}, getHeader() {}, end() {} };
      await new Promise((next) => limiter({ method: 'GET', url: '/acme/chat/chatgroups', headers: {} }, res, next));
      const without = loaded();
      imRateLimit({ metrics: { registry: { registerMetric() {}, getSingleMetric() {} } } });
      console.log(JSON.stringify({ without, with: loaded() }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
    });
    expect(JSON.parse(out), "did 'npm run build' run?").toEqual({ without: false, with: true });
  });
});
