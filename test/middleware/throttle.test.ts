import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import type { Express, Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imRateLimit, type Options } from '../../src/index.js';
import { type ExpressFactory, expressVersions } from '../support/express.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'imrl-files-'));
const file = join(dir, 'one-mib.bin');
const content = randomBytes(MiB);

beforeAll(() => writeFileSync(file, content));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A download server: each file UUID answers with one way of writing a body. */
async function serve(
  express: ExpressFactory,
  handler: (uuid: string, res: Response) => void,
  options: Options = {},
): Promise<{ url: (uuid: string) => string; close: () => void }> {
  const app: Express = express().use(imRateLimit(options));
  app.get('/:org/:app/chatfiles/:uuid', (req, res) => handler(String(req.params.uuid), res));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as { port: number };
  return { url: (uuid) => `http://127.0.0.1:${port}/acme/chat/chatfiles/${uuid}`, close: () => server.close() };
}

const writers: Record<string, (res: Response) => void> = {
  'res.write': (res) => {
    for (let offset = 0; offset < content.length; offset += 100_000)
      res.write(content.subarray(offset, offset + 100_000));
    res.end();
  },
  'res.end(buffer)': (res) => {
    res.end(content);
  },
  'stream.pipe(res)': (res) => {
    createReadStream(file).pipe(res);
  },
  'res.sendFile': (res) => {
    res.sendFile(file);
  },
};

describe('download bandwidth: 500 × 1024 bytes/s per response', () => {
  // These wait out the pace and use little CPU: both versions run side by side, not one after the other
  // (each test asserts with its own `expect`, as concurrent tests must).
  describe.concurrent.each(expressVersions)('pacing ($name)', ({ express }) => {
    it('takes at least 2.0 s for 1 MiB, byte-identical, however the handler writes', async ({ expect }) => {
      const server = await serve(express, (uuid, res) => writers[uuid]?.(res));
      try {
        const results = await Promise.all(
          Object.keys(writers).map(async (style) => {
            const started = performance.now();
            const response = await fetch(server.url(style));
            const body = Buffer.from(await response.arrayBuffer());
            return {
              style,
              status: response.status,
              seconds: (performance.now() - started) / 1000,
              identical: body.equals(content),
            };
          }),
        );
        for (const result of results) {
          expect(result, result.style).toMatchObject({ status: 200, identical: true });
          // 1 MiB ÷ 500 KiB/s = 2.048 s: a lower bound, which a slower machine only clears by more
          expect(result.seconds, result.style).toBeGreaterThanOrEqual(2.0);
        }
      } finally {
        server.close();
      }
    });

    it('releases everything at once when the client goes away', async ({ expect }) => {
      let finished: Promise<NodeJS.ErrnoException | null | undefined> | undefined;
      let source: Readable | undefined;
      const server = await serve(express, (_uuid, res) => {
        source = createReadStream(file);
        finished = new Promise((resolve) => pipeline(source as Readable, res, resolve));
      });
      try {
        const abort = new AbortController();
        const response = await fetch(server.url('x'), { signal: abort.signal });
        const reader = response.body?.getReader();
        await reader?.read(); // the first slice arrived; the rest would take 2 s
        abort.abort();
        const error = await finished;
        expect(error?.code).toBe('ERR_STREAM_PREMATURE_CLOSE');
        expect(source?.destroyed).toBe(true);
      } finally {
        server.close();
      }
    });
  });

  describe.each(expressVersions)('backpressure ($name)', ({ express }) => {
    it('holds under 1 MiB of a 100 MiB stream at any time (backpressure reaches the source)', async () => {
      const total = 100 * MiB;
      // Counted in bytes, not read from the heap: what the source produced and the socket has not yet
      // handed to the kernel is what the process holds. A heap figure also counts garbage the GC has
      // not yet freed, which grows with the machine's load; this count does not. Without backpressure
      // the source runs ahead of the pace and the process holds tens of MiB.
      let peakHeld = 0;
      // a fast pace, so 100 MiB takes ~2 s: the bound comes from backpressure, not from the pace
      const server = await serve(
        express,
        (_uuid, res) => {
          let sent = 0;
          const source = new Readable({
            read() {
              if (sent >= total) return void this.push(null);
              sent += 64 * 1024;
              this.push(Buffer.alloc(64 * 1024, sent & 0xff));
              const socket = res.socket as Socket;
              peakHeld = Math.max(peakHeld, sent - (socket.bytesWritten - socket.writableLength));
            },
          });
          source.pipe(res);
        },
        { overrides: { 'acme#chat': { files: { downloadBytesPerSecond: 50 * MiB } } } },
      );
      try {
        // the client is another process: it reads at its own speed, as a remote one would
        const received = await new Promise<number>((resolve, reject) => {
          const client = fork(new URL('../support/download-client.mjs', import.meta.url), [server.url('stream')], {
            stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
          });
          client.once('message', (bytes) => resolve(bytes as number));
          client.once('exit', (code) => code !== 0 && reject(new Error(`download client exited with ${code}`)));
        });
        expect(received).toBe(total);
        expect(peakHeld).toBeLessThan(1 * MiB);
      } finally {
        server.close();
      }
    });
  });
});
