/**
 * JSON-lines logging (one event per line) to stderr, human-readable on a terminal. Secrets are
 * redacted by key name as a second line of defence: code must not log them in the first place.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

const SECRET_KEYS = [
  'secretAccessKey',
  'SecretAccessKey',
  'sessionToken',
  'SessionToken',
  'password',
  'token',
  'authorization',
  'Authorization',
];

export function createLogger(level: string, options: { pretty?: boolean } = {}): Logger {
  const usePretty = options.pretty ?? Boolean(process.stderr.isTTY);
  const base = {
    level,
    base: undefined,
    redact: { paths: [...SECRET_KEYS, ...SECRET_KEYS.map((key) => `*.${key}`)], censor: '[redacted]' },
  };
  if (usePretty) return pino(base, pretty({ destination: 2, colorize: true, sync: true }));
  return pino(base, pino.destination({ dest: 2, sync: true }));
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
