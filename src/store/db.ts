/**
 * Opens the state database: a PostgreSQL server (`DATABASE_URL`, through a `pg.Pool`) or, with no
 * URL, an embedded PGlite database persisted in a local folder. Both are wrapped in {@link Db} so
 * the rest of the store speaks one dialect with the same value types:
 *
 * - `timestamptz` → `Date`; `jsonb` → parsed JSON; `text[]` → `string[]`;
 * - `int8`/`bigserial` → `number` (a `bigint` only beyond Number.MAX_SAFE_INTEGER), as PGlite does;
 * - `numeric` → `string`.
 *
 * Error messages name the server (host, port, database, user) but never the password.
 */
import { open as openFile, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { PGlite, type Transaction as PGliteTransaction } from '@electric-sql/pglite';
import pg from 'pg';
import type { Db } from './types.js';

export interface OpenDbOptions {
  /** PostgreSQL server URL; when absent or empty, PGlite in `dataDir` is used. */
  databaseUrl?: string | undefined;
  /** Folder of the embedded database (created if missing); ignored with `databaseUrl`. */
  dataDir: string;
  /** PostgreSQL only: how long to wait for a connection (default 10 s). */
  connectTimeoutMs?: number;
  /** PostgreSQL only: pool size (default 10). */
  maxConnections?: number;
  /** PostgreSQL only: called when an idle pooled connection fails (the pool replaces it). */
  onIdleError?: (err: Error) => void;
}

/** DATABASE_URL is unusable; the message says why without echoing the URL. */
export class DatabaseUrlError extends Error {
  override readonly name = 'DatabaseUrlError';
}

/** The database cannot be reached or opened; the message names it without the password. */
export class DatabaseConnectionError extends Error {
  override readonly name = 'DatabaseConnectionError';
}

const URL_SHAPE = 'postgres://USER:PASSWORD@HOST:5432/DATABASE';

interface PostgresTarget {
  host: string;
  port: string;
  database: string;
  user: string;
  password: string;
}

/**
 * Checks DATABASE_URL and returns what it points at. Throws {@link DatabaseUrlError} with a
 * message naming DATABASE_URL and the problem; the URL (and so its password) is never echoed.
 */
export function parseDatabaseUrl(databaseUrl: string): PostgresTarget {
  let url: URL;
  try {
    url = new URL(databaseUrl.trim());
  } catch {
    // Node's own message repeats the input, password included: not used.
    throw new DatabaseUrlError(
      `DATABASE_URL is not a valid URL; expected ${URL_SHAPE} ` +
        `(percent-encode special characters in the password, e.g. "@" as %40)`,
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new DatabaseUrlError(
      `DATABASE_URL must start with postgres:// or postgresql://; expected ${URL_SHAPE}`,
    );
  }
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new DatabaseUrlError(
        `DATABASE_URL has a malformed percent-escape in the ${what}; ` +
          `write "%" as %25 and other special characters as %XX`,
      );
    }
  };
  const user = decode(url.username, 'user name');
  const password = decode(url.password, 'password');
  const database = decode(url.pathname.replace(/^\//, ''), 'database name');
  const socketHost = url.searchParams.get('host');
  if (url.hostname === '' && !socketHost) {
    throw new DatabaseUrlError(`DATABASE_URL has no host; expected ${URL_SHAPE}`);
  }
  return {
    host: decode(url.hostname, 'host') || socketHost || '',
    port: url.port || '5432',
    database: database || user || '(default)',
    user: user || '(default)',
    password,
  };
}

/** "PostgreSQL at HOST:PORT, database DB, user USER" — for messages; never the password. */
export function describeDatabaseUrl(databaseUrl: string): string {
  return describeTarget(parseDatabaseUrl(databaseUrl));
}

function describeTarget(t: PostgresTarget): string {
  return `PostgreSQL at ${t.host}:${t.port}, database "${t.database}", user "${t.user}"`;
}

const CONNECTION_CODES: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused (is the server running and listening on that port?)',
  ENOTFOUND: 'the host name was not found',
  EAI_AGAIN: 'the host name could not be resolved (temporary DNS failure)',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ECONNRESET: 'the server closed the connection',
  EPIPE: 'the server closed the connection',
  '28P01': 'password authentication failed',
  '28000': 'the server refused the login (check pg_hba.conf and the user name)',
  '3D000': 'the database does not exist',
  '57P03': 'the server is starting up or shutting down',
  '53300': 'the server has too many connections',
};

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True for failures to reach or log into the server, as opposed to errors of one statement. */
function isConnectionFailure(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined) {
    return code in CONNECTION_CODES || code.startsWith('08') || code === '57P01';
  }
  const message = err instanceof Error ? err.message : '';
  return /timeout exceeded when trying to connect|Connection terminated|connect(ion)? timeout/i.test(
    message,
  );
}

function scrub(text: string, secret: string): string {
  if (secret.length < 3) return text;
  let out = text.split(secret).join('***');
  const encoded = encodeURIComponent(secret);
  if (encoded !== secret) out = out.split(encoded).join('***');
  return out;
}

function connectionError(err: unknown, target: PostgresTarget): DatabaseConnectionError {
  const code = errorCode(err);
  const raw = err instanceof Error ? err.message : String(err);
  const reason =
    (code !== undefined && CONNECTION_CODES[code]) ||
    (/timeout/i.test(raw) ? 'the connection timed out' : scrub(raw, target.password));
  return new DatabaseConnectionError(
    `cannot connect to ${describeTarget(target)} (from DATABASE_URL): ${reason}`,
  );
}

// ---------------------------------------------------------------------------------------------
// value types

/** int8 as PGlite returns it: a number when exact, a bigint otherwise. */
function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 && format !== 'binary') return parseInt8;
    return format === undefined
      ? pg.types.getTypeParser(oid)
      : pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

// ---------------------------------------------------------------------------------------------
// pg

interface Queryable {
  query(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
}

let savepointCounter = 0;

/** Nested transactions: a savepoint inside the enclosing one. */
async function withSavepoint<T>(tx: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  const name = `sp_${++savepointCounter}`;
  await tx.exec(`SAVEPOINT ${name}`);
  try {
    const result = await fn(tx);
    await tx.exec(`RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (err) {
    await tx.exec(`ROLLBACK TO SAVEPOINT ${name}`);
    throw err;
  }
}

function pgTxDb(client: pg.PoolClient, guard: { done: boolean }): Db {
  const check = (): void => {
    if (guard.done) throw new Error('this transaction is already finished; use the outer Db');
  };
  const db: Db = {
    kind: 'postgres',
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]> {
      check();
      const result = await client.query(sql, params ? [...params] : undefined);
      return result.rows as Row[];
    },
    async exec(sql: string): Promise<void> {
      check();
      await client.query(sql);
    },
    transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
      check();
      return withSavepoint(db, fn);
    },
    async close(): Promise<void> {
      throw new Error('close() is not allowed inside a transaction');
    },
  };
  return db;
}

async function openPostgres(databaseUrl: string, opts: OpenDbOptions): Promise<Db> {
  const target = parseDatabaseUrl(databaseUrl);
  const pool = new pg.Pool({
    connectionString: databaseUrl.trim(),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    max: opts.maxConnections ?? 10,
    types: pgTypes,
  });
  // Without a listener, an idle connection dropped by the server would crash the process.
  pool.on('error', (err) => opts.onIdleError?.(err));

  const run = async <R>(fn: () => Promise<R>): Promise<R> => {
    try {
      return await fn();
    } catch (err) {
      throw isConnectionFailure(err) ? connectionError(err, target) : err;
    }
  };

  try {
    await run(() => pool.query('SELECT 1'));
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }

  const queryable: Queryable = pool;
  let closed = false;
  return {
    kind: 'postgres',
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]> {
      const result = await run(() => queryable.query(sql, params ? [...params] : undefined));
      return result.rows as Row[];
    },
    async exec(sql: string): Promise<void> {
      await run(() => queryable.query(sql));
    },
    async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
      const client = await run(() => pool.connect());
      const guard = { done: false };
      try {
        await run(() => client.query('BEGIN'));
        const result = await fn(pgTxDb(client, guard));
        guard.done = true;
        await run(() => client.query('COMMIT'));
        client.release();
        return result;
      } catch (err) {
        guard.done = true;
        try {
          await client.query('ROLLBACK');
          client.release();
        } catch (rollbackErr) {
          // The connection is in an unknown state: destroy it rather than reuse it.
          client.release(rollbackErr instanceof Error ? rollbackErr : true);
        }
        throw err;
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// PGlite

/** Data folders this process holds open, so a second open in the same process is refused too. */
const openDataDirs = new Set<string>();
const LOCK_FILE = 'controller.lock';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

/**
 * PGlite has no lock of its own and two processes writing one folder would corrupt it, so the
 * folder is locked with a pid file. A lock left by a dead process (or by an earlier run that had
 * this same pid, as pid 1 in containers) is taken over.
 */
async function lockDataDir(dir: string): Promise<string> {
  const lockPath = path.join(dir, LOCK_FILE);
  const inUse = (pid: number | string): DatabaseConnectionError =>
    new DatabaseConnectionError(
      `the embedded database in ${dir} is already in use (process ${pid}); stop that process ` +
        `first, or set DATABASE_URL to share a PostgreSQL server between processes`,
    );
  if (openDataDirs.has(dir)) throw inUse(process.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await openFile(lockPath, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      openDataDirs.add(dir);
      return lockPath;
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err;
    }
    const pid = Number.parseInt((await readFile(lockPath, 'utf8').catch(() => '')).trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw inUse(pid);
    }
    await rm(lockPath, { force: true }); // stale
  }
  throw inUse('unknown');
}

function pgliteTxDb(tx: PGliteTransaction, guard: { done: boolean }): Db {
  const check = (): void => {
    if (guard.done) throw new Error('this transaction is already finished; use the outer Db');
  };
  const db: Db = {
    kind: 'pglite',
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]> {
      check();
      const result = await tx.query<Row>(sql, params ? [...params] : undefined);
      return result.rows;
    },
    async exec(sql: string): Promise<void> {
      check();
      await tx.exec(sql);
    },
    transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
      check();
      return withSavepoint(db, fn);
    },
    async close(): Promise<void> {
      throw new Error('close() is not allowed inside a transaction');
    },
  };
  return db;
}

async function openPGlite(dataDir: string): Promise<Db> {
  const dir = path.resolve(dataDir);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new DatabaseConnectionError(
      `cannot create the embedded database folder ${dir}: ${(err as Error).message}`,
    );
  }
  const lockPath = await lockDataDir(dir);
  const unlock = async (): Promise<void> => {
    openDataDirs.delete(dir);
    await rm(lockPath, { force: true });
  };

  let lite: PGlite;
  try {
    lite = await PGlite.create({ dataDir: dir });
  } catch (err) {
    await unlock();
    throw new DatabaseConnectionError(
      `cannot open the embedded database in ${dir}: ${(err as Error).message ?? String(err)}`,
    );
  }

  let closed = false;
  return {
    kind: 'pglite',
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]> {
      const result = await lite.query<Row>(sql, params ? [...params] : undefined);
      return result.rows;
    },
    async exec(sql: string): Promise<void> {
      await lite.exec(sql);
    },
    transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
      // PGlite queues other queries until the transaction ends, so nothing interleaves.
      return lite.transaction(async (tx) => {
        const guard = { done: false };
        try {
          return await fn(pgliteTxDb(tx, guard));
        } finally {
          guard.done = true;
        }
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        await lite.close();
      } finally {
        await unlock();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Opens the state database: PostgreSQL when `databaseUrl` is set (checked first; the connection
 * is tried before returning), else PGlite in `dataDir`. Errors are {@link DatabaseUrlError} or
 * {@link DatabaseConnectionError} with one plain sentence, never the password.
 */
export async function openDb(opts: OpenDbOptions): Promise<Db> {
  const url = opts.databaseUrl?.trim();
  if (url) return openPostgres(url, opts);
  return openPGlite(opts.dataDir);
}
