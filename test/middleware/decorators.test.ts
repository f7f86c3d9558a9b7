import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { ImRateLimitError, imRateLimit } from '../../src/index.js';

// TC39 decorators (this project's default): what @limiter.limit is applied to other than a method.

describe('@limiter.limit misused (TC39)', () => {
  const limiter = imRateLimit();
  const message = (what: string) =>
    new ImRateLimitError(
      'ERR_INVALID_DECORATOR',
      'im-rate-limit: @limiter.limit("files") decorates a class method that is an Express handler ' +
        `(req, res, next?); it was applied to ${what}`,
    );
  const decorate = limiter.limit('files') as unknown as (...args: unknown[]) => unknown;

  it('on a getter', () => {
    expect(() => {
      class Controller {
        // @ts-expect-error: a getter is no handler, and the types say so
        @limiter.limit('files')
        get count() {
          return 1;
        }
      }
      return Controller;
    }).toThrow(message('a getter'));
  });

  it('on a class, a field or an accessor', () => {
    expect(() => decorate(class {}, { kind: 'class', name: 'C' })).toThrow(message('a class'));
    expect(() => decorate(undefined, { kind: 'field', name: 'f' })).toThrow(message('a field'));
    expect(() => decorate({}, { kind: 'accessor', name: 'a' })).toThrow(message('an accessor'));
  });

  it('on a method, with a handler of any arity', async () => {
    class Controller {
      @limiter.limit('files')
      download(_req: Request, _res: Response) {
        return 'ran';
      }
    }
    expect(typeof new Controller().download).toBe('function');
  });
});
