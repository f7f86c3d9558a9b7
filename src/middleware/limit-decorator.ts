import type { NextFunction, Request, Response } from 'express';
import { ImRateLimitError } from '../errors.js';
import type { Category } from '../limits/table.js';
import { isPending, type MaybePromise } from '../maybe-async.js';

/** A controller method that handles a request as Express calls it; `next` is absent when called directly. */
type Handler = (this: unknown, req: Request, res: Response, next: NextFunction) => unknown;

/** A guard as the decorator runs it: what it returns when it waited for the store never rejects. */
type Guard = (req: Request, res: Response, next: NextFunction) => MaybePromise<void>;

/**
 * A method decorator of either kind: TC39 (`(method, context)`, TypeScript 5 by default) or legacy
 * (`(target, key, descriptor)`, under `experimentalDecorators`, as NestJS projects compile).
 */
export interface LimitDecorator {
  <M extends Handler>(method: M, context: ClassMethodDecoratorContext): M;
  <T>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<T>): TypedPropertyDescriptor<T>;
}

/** `limiter.limit(category)`: runs `guard` before the method, which runs only when the guard admits. */
export function limitDecorator(guard: Guard, category: Category): LimitDecorator {
  const limited = <M extends Handler>(method: M): M =>
    function limited(this: unknown, req: Request, res: Response, next?: NextFunction) {
      // called without next: the router's own, which Express 4 and 5 set, rather than a rejection Express 4 drops
      const forward = next ?? (req as { next?: NextFunction }).next;
      const failed = (error: unknown): unknown => {
        if (forward === undefined) throw error;
        return forward(error);
      };
      let admitted = false;
      let decided = false;
      let failure: unknown;
      const after = (): unknown => {
        decided = true;
        if (failure !== undefined) return failed(failure);
        return admitted ? method.call(this, req, res, next as NextFunction) : undefined; // refused: the guard answered
      };
      const settled = guard(req, res, (error?: unknown) => {
        if (decided) {
          if (error !== undefined) forward?.(error); // an onRefused that rejected after the guard was done
        } else if (error === undefined) admitted = true;
        else failure = error;
      });
      if (!isPending(settled)) return after();
      // the method's own throw, once the guard waited for the store, would be a rejection Express 4 drops
      return settled.then(() => {
        try {
          return after();
        } catch (error) {
          return failed(error);
        }
      });
    } as M;
  return ((...args: unknown[]) => decorate(args, limited, category)) as LimitDecorator;
}

/** Applies `wrap` to the method a decorator call of either kind names; throws on any other use. */
function decorate(args: unknown[], wrap: (method: Handler) => Handler, category: Category): unknown {
  const [first, second, third] = args;
  const context = second as Partial<ClassMethodDecoratorContext> | undefined;
  if (args.length === 2 && typeof context === 'object' && context !== null && 'kind' in context) {
    if (context.kind === 'method' && typeof first === 'function') return wrap(first as Handler);
    throw misused(category, `${/^[aeiou]/.test(String(context.kind)) ? 'an' : 'a'} ${context.kind}`);
  }
  const descriptor = third as PropertyDescriptor | undefined;
  if (args.length === 3 && typeof descriptor === 'object' && descriptor !== null) {
    if (typeof descriptor.value === 'function') return { ...descriptor, value: wrap(descriptor.value as Handler) };
    throw misused(category, descriptor.get || descriptor.set ? 'an accessor' : 'a property');
  }
  throw misused(category, args.length === 1 ? 'a class' : 'something that is not a method');
}

const misused = (category: Category, what: string): ImRateLimitError =>
  new ImRateLimitError(
    'ERR_INVALID_DECORATOR',
    `im-rate-limit: @limiter.limit(${JSON.stringify(category)}) decorates a class method that is an Express ` +
      `handler (req, res, next?); it was applied to ${what}`,
  );
