/**
 * A user-facing error: bad input, a missing file, an unknown name. The CLI prints its message as one
 * line and exits with `exitCode` (2 by default); anything else is a bug and keeps its stack trace.
 */
export class ZoError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'ZoError';
  }
}

/** Throws a ZoError unless `cond` holds. */
export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new ZoError(typeof message === 'function' ? message() : message);
}
