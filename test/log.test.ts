import { Console } from 'node:console';
import { PassThrough } from 'node:stream';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { imRateLimit } from '../src/index.js';
import { type LogFields, logWarning } from '../src/log.js';
import { linesInto } from './helpers.js';

describe('a warning', () => {
  it('goes to warn(fields, message): its code in the fields and at the head of the line', () => {
    const lines: string[] = [];
    const records: LogFields[] = [];
    logWarning(linesInto(lines, records), 'WRN_STORE_BACK', 'the store answers again', { policy: 'deny' });
    expect(records).toEqual([{ code: 'WRN_STORE_BACK', policy: 'deny' }]);
    expect(lines).toEqual(['im-rate-limit: WRN_STORE_BACK: the store answers again']);
  });

  it('prints both its fields and its line through console.warn', () => {
    const out = new PassThrough();
    let printed = '';
    out.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    logWarning(new Console({ stdout: out, stderr: out }), 'WRN_MEMORY_STORE_FULL', 'the MemoryStore is full', {
      dropped: 3,
    });
    expect(printed).toBe(
      "{ code: 'WRN_MEMORY_STORE_FULL', dropped: 3 } im-rate-limit: WRN_MEMORY_STORE_FULL: the MemoryStore is full\n",
    );
  });

  it('from a logger that throws is lost, and the request still answered', async () => {
    const thrower = {
      warn() {
        throw new Error('log sink down');
      },
    };
    const app = express().use(
      imRateLimit({
        logger: thrower,
        onDecision() {
          throw new Error('broken hook'); // its warning goes to the logger, which throws
        },
      }),
      (_req, res) => {
        res.json({ ok: true });
      },
    );
    expect((await request(app).get('/acme/chat/users')).status).toBe(200);
  });

  it("carries the fields a reader filters on: a hook's failure names the hook", async () => {
    const lines: string[] = [];
    const records: LogFields[] = [];
    const app = express().use(
      imRateLimit({
        logger: linesInto(lines, records),
        onDecision() {
          throw new Error('broken hook');
        },
      }),
      (_req, res) => {
        res.json({ ok: true });
      },
    );
    await request(app).get('/acme/chat/users');
    expect(records).toEqual([{ code: 'WRN_HOOK_THREW', hook: 'onDecision' }]);
    expect(lines).toEqual(['im-rate-limit: WRN_HOOK_THREW: onDecision threw (Error: broken hook); ignored']);
  });
});
