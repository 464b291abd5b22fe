/**
 * Errors with a retry decision (STYLE.md #7). A `UserError` is the operator's to fix: the CLI prints
 * its message as one line and exits 2. A `TerminalError` will fail again until its input changes;
 * anything else may be retried.
 */

/** Bad configuration or input: one plain sentence saying what is wrong and what to do. */
export class UserError extends Error {
  override readonly name: string = 'UserError';
}

/** A configuration variable that is missing or malformed. */
export class ConfigError extends UserError {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** An action that will keep failing until something outside the controller changes. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Message of any thrown value, for logs and stored `last_error` fields. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
