/**
 * Values that are there now or come later. Stores, ledgers, resolvers and hooks may answer either
 * way; a synchronous answer (the MemoryStore's) must go on synchronously, with no promise made for
 * it, so that the fast path allocates nothing. Every such branch in the library goes through here.
 *
 * Not named `then`: a module exporting `then` is a thenable, and `await import()` of it calls it.
 *
 * `next` and `fail` take an optional `context` as a second argument: a caller on the hot path passes
 * a function made once and the request's context, rather than a closure made per request.
 */
export type MaybePromise<T> = T | Promise<T>;

/** Whether `value` is still to come. */
export function isPending<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}

/** `next` of a value now, or once it comes. */
export function andThen<T, R, C = undefined>(
  value: MaybePromise<T>,
  next: (value: T, context: C) => MaybePromise<R>,
  context?: C,
): MaybePromise<R> {
  return value instanceof Promise ? value.then((now) => next(now, context as C)) : next(value, context as C);
}

/** As `andThen`, with `fail` told of a rejection (a synchronous throw is the caller's to catch). */
export function settle<T, R, F, C = undefined>(
  value: MaybePromise<T>,
  next: (value: T, context: C) => MaybePromise<R>,
  fail: (error: unknown, context: C) => F,
  context?: C,
): MaybePromise<R> | Promise<R | F> {
  if (!(value instanceof Promise)) return next(value, context as C);
  return value.then(
    (now) => next(now, context as C),
    (error: unknown) => fail(error, context as C),
  );
}

/** Waits for whichever of `values` are promises; nothing to wait for, nothing made. */
export function all(values: ReadonlyArray<MaybePromise<void>>): MaybePromise<void> {
  const waiting = values.filter(isPending);
  return waiting.length === 0 ? undefined : Promise.all(waiting).then(nothing);
}

/** Hands a rejection of `value`, if it is a promise, to `handle`: for hooks whose answer nobody awaits. */
export function onRejection(value: unknown, handle: (error: unknown) => void): void {
  if (value instanceof Promise) value.catch(handle);
}

const nothing = (): undefined => undefined;
