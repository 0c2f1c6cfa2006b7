/**
 * Errors that name the op, the argument and the shapes involved. Every check in the engine
 * throws through here so that messages have one format: `kdet.<op>: <argument>: <what>`.
 */
export class KdetError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(`kdet.${op}: ${message}`);
    this.name = 'KdetError';
  }
}

export function fail(op: string, message: string): never {
  throw new KdetError(op, message);
}

export function check(cond: unknown, op: string, message: () => string): asserts cond {
  if (!cond) throw new KdetError(op, message());
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
