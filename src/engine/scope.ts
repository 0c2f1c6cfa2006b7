import { state } from './state.js';
import { Tensor } from './tensor.js';

const kept = new WeakSet<object>();

/** Exempt a tensor from disposal by the scopes it was created in (parameters, caches). */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  return t;
}

function collect(value: unknown, out: Set<object>, depth = 0): void {
  if (value instanceof Tensor) out.add(value);
  else if (depth < 4 && value !== null && typeof value === 'object') {
    const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
    for (const v of items) collect(v, out, depth + 1);
  }
}

function close(created: { dispose(): void; readonly isDisposed: boolean }[], result: unknown): void {
  const survivors = new Set<object>();
  collect(result, survivors);
  const parent = state.scopes[state.scopes.length - 1];
  for (const t of created) {
    if (t.isDisposed) continue;
    if (survivors.has(t) || kept.has(t)) parent?.push(t);
    else t.dispose();
  }
}

/**
 * Run `fn` and dispose every tensor it created except those it returns (found in the returned
 * value, arrays and plain objects up to 4 levels deep) and those marked with `keep`. Returned
 * tensors move to the enclosing scope. An async `fn` closes the scope when its promise settles;
 * do not interleave two async scopes.
 */
export function scope<T>(fn: () => T): T {
  const created: { dispose(): void; readonly isDisposed: boolean }[] = [];
  state.scopes.push(created);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    state.scopes.pop();
    close(created, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => {
        popScope(created);
        close(created, v);
        return v;
      },
      (e) => {
        popScope(created);
        close(created, undefined);
        throw e;
      },
    ) as T;
  }
  state.scopes.pop();
  close(created, result);
  return result;
}

function popScope(created: unknown[]): void {
  const i = state.scopes.lastIndexOf(created as never);
  if (i >= 0) state.scopes.splice(i, 1);
}

/** Dispose every tensor found in `value` (arrays, objects). */
export function dispose(value: unknown): void {
  const found = new Set<object>();
  collect(value, found);
  for (const t of found) (t as Tensor).dispose();
}
