/**
 * A value now, or later. The gateway's stages answer from memory on the common path (a verified
 * token seen before, an in-memory rate window, an internal token still fresh) and only sometimes
 * have to wait (a store, the policy engine, a signature): returning the value itself then saves
 * the promise and the microtask hop an `async` function costs on every request.
 */
export type MaybePromise<T> = T | Promise<T>;

/** `next(value)` at once when `value` is already there, after it resolves when it is a promise. */
export function andThen<T, U>(value: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}
