/** Reading a parsed JSON body a client sent, which may hold anything: its own fields, lists of IDs. */

/** A body's own field: a `constructor` or `__proto__` on the prototype is not the client's. */
export function own(body: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(body, name) ? body[name] : undefined;
}

export function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isIdList(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((id) => typeof id === 'string');
}
