import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DatabaseConnectionError,
  DatabaseUrlError,
  describeDatabaseUrl,
  openDb,
  parseDatabaseUrl,
} from '../../src/store/db.js';
import type { Db } from '../../src/store/types.js';
import { backends, type BackendTarget } from './backends.js';

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** A TCP port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.each(backends)('Db on $name', (backend) => {
  let target: BackendTarget;
  let db: Db;

  beforeAll(async () => {
    target = await backend.fresh();
    db = await openDb(target);
    await db.exec(`
      CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL, at timestamptz DEFAULT now(),
                      tags text[] NOT NULL DEFAULT '{}', doc jsonb, n int8, amount numeric);
    `);
  });

  afterAll(async () => {
    await db?.close();
    await target?.cleanup();
  });

  it('reports its kind', () => {
    expect(db.kind).toBe(backend.name);
  });

  it('runs $n-parameterised queries and parses values the same way', async () => {
    const when = new Date('2024-05-06T07:08:09.123Z');
    const rows = await db.query<{
      id: number;
      v: string;
      at: Date;
      tags: string[];
      doc: unknown;
      n: number | bigint;
      amount: string;
    }>(
      `INSERT INTO t (v, at, tags, doc, n, amount)
       VALUES ($1, $2, $3::text[], $4::jsonb, $5, $6) RETURNING *`,
      ['a', when, ['x', 'y,z', 'w"q'], JSON.stringify({ k: [1, 'two'] }), 42, '1.50'],
    );
    const row = rows[0]!;
    expect(typeof row.id).toBe('number');
    expect(row.v).toBe('a');
    expect(row.at).toBeInstanceOf(Date);
    expect(row.at.toISOString()).toBe(when.toISOString());
    expect(row.tags).toEqual(['x', 'y,z', 'w"q']);
    expect(row.doc).toEqual({ k: [1, 'two'] });
    expect(row.n).toBe(42);
    expect(row.amount).toBe('1.50');

    const big = await db.query<{ n: number | bigint; now: Date; empty: string[] }>(
      `SELECT 9007199254740993::int8 AS n, now() AS now, '{}'::text[] AS empty`,
    );
    expect(big[0]!.n).toBe(9007199254740993n);
    expect(big[0]!.now).toBeInstanceOf(Date);
    expect(big[0]!.empty).toEqual([]);
    const none = await db.query('SELECT 1 WHERE false');
    expect(none).toEqual([]);
  });

  it('keeps the error code of a failed statement', async () => {
    const err = await rejection(db.query('SELECT * FROM no_such_table'));
    expect((err as Error & { code?: string }).code).toBe('42P01');
  });

  it('commits a transaction that resolves', async () => {
    const result = await db.transaction(async (tx) => {
      await tx.query('INSERT INTO t (v) VALUES ($1)', ['committed']);
      return 'done';
    });
    expect(result).toBe('done');
    expect(await db.query('SELECT v FROM t WHERE v = $1', ['committed'])).toHaveLength(1);
  });

  it('rolls back a transaction that throws', async () => {
    const err = await rejection(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t (v) VALUES ($1)', ['rolled-back']);
        expect(await tx.query('SELECT v FROM t WHERE v = $1', ['rolled-back'])).toHaveLength(1);
        throw new Error('boom');
      }),
    );
    expect(err.message).toBe('boom');
    expect(await db.query('SELECT v FROM t WHERE v = $1', ['rolled-back'])).toHaveLength(0);
  });

  it('rolls back a transaction whose statement fails', async () => {
    await rejection(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t (v) VALUES ($1)', ['before-failure']);
        await tx.query('INSERT INTO t (v) VALUES (NULL)');
      }),
    );
    expect(await db.query('SELECT v FROM t WHERE v = $1', ['before-failure'])).toHaveLength(0);
    // The Db is still usable afterwards.
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('nests transactions as savepoints', async () => {
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO t (v) VALUES ($1)', ['outer']);
      await rejection(
        tx.transaction(async (inner) => {
          await inner.query('INSERT INTO t (v) VALUES ($1)', ['inner-undone']);
          throw new Error('inner');
        }),
      );
      await tx.transaction(async (inner) => {
        await inner.query('INSERT INTO t (v) VALUES ($1)', ['inner-kept']);
      });
    });
    const rows = await db.query<{ v: string }>(
      `SELECT v FROM t WHERE v IN ('outer', 'inner-undone', 'inner-kept') ORDER BY v`,
    );
    expect(rows.map((r) => r.v)).toEqual(['inner-kept', 'outer']);
  });

  it('refuses to use a transaction handle after the transaction ended', async () => {
    let leaked: Db | undefined;
    await db.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.query('SELECT 1')).rejects.toThrow(/already finished/);
  });

  it('isolates an open transaction from other work', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const insertDone = new Promise<void>((resolve) => (inserted = resolve));
    const tx = db.transaction(async (t) => {
      await t.query('INSERT INTO t (v) VALUES ($1)', ['isolated']);
      inserted();
      await gate;
      throw new Error('undo');
    });
    // The row is written (uncommitted) before the outside read, however slow the machine.
    await insertDone;
    const outside = db.query('SELECT count(*)::int AS c FROM t WHERE v = $1', ['isolated']);
    release();
    await rejection(tx);
    expect(await outside).toEqual([{ c: 0 }]);
  });
});

describe('DATABASE_URL validation', () => {
  const password = 'Sup3r-S3cret-pw';
  const cases: Array<[string, RegExp]> = [
    [`not a url ${password}`, /DATABASE_URL is not a valid URL; expected postgres:\/\//],
    [`mysql://u:${password}@db.example.com/x`, /DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//],
    [`u:${password}@db.example.com:5432/x`, /DATABASE_URL must start with postgres:\/\//],
    [`postgres://u:${password}@db.example.com:notaport/x`, /DATABASE_URL is not a valid URL/],
    [`postgres://u:${password}%zz@db.example.com/x`, /DATABASE_URL has a malformed percent-escape in the password/],
    [`postgres://u:${password}@/x`, /DATABASE_URL (has no host|is not a valid URL)/],
  ];
  it.each(cases)('rejects %s clearly, without the password', async (url, message) => {
    const err = await rejection(openDb({ databaseUrl: url, dataDir: '/nonexistent' }));
    expect(err).toBeInstanceOf(DatabaseUrlError);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(password);
    expect(err.message).not.toContain('Sup3r');
  });

  it('describes a URL without its password', () => {
    const url = `postgresql://app:${encodeURIComponent('p@ss/w0rd!')}@db.example.com:6543/state`;
    expect(describeDatabaseUrl(url)).toBe(
      'PostgreSQL at db.example.com:6543, database "state", user "app"',
    );
    expect(parseDatabaseUrl(url).password).toBe('p@ss/w0rd!');
    expect(describeDatabaseUrl('postgres://db.example.com')).toContain(':5432');
  });
});

describe('unreachable PostgreSQL', () => {
  it('fails with host, port and database named and no password', async () => {
    const port = await closedPort();
    const password = 'hunter2-very-secret';
    const err = await rejection(
      openDb({
        databaseUrl: `postgres://controller:${password}@127.0.0.1:${port}/statedb`,
        dataDir: '/nonexistent',
        connectTimeoutMs: 3_000,
      }),
    );
    expect(err).toBeInstanceOf(DatabaseConnectionError);
    expect(err.message).toBe(
      `cannot connect to PostgreSQL at 127.0.0.1:${port}, database "statedb", user "controller" ` +
        `(from DATABASE_URL): the connection was refused (is the server running and listening on that port?)`,
    );
    expect(err.message).not.toContain(password);
  });

  it('times out on a server that never answers', async () => {
    // A listening socket that never speaks the protocol.
    const server = net.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const err = await rejection(
        openDb({
          databaseUrl: `postgres://u:pw-secret-123@127.0.0.1:${port}/db`,
          dataDir: '/nonexistent',
          connectTimeoutMs: 500,
        }),
      );
      expect(err).toBeInstanceOf(DatabaseConnectionError);
      expect(err.message).toMatch(new RegExp(`^cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${port}`));
      expect(err.message).not.toContain('pw-secret-123');
    } finally {
      server.close();
    }
  });

  it('says when the database does not exist', async () => {
    const target = await backends[0]!.fresh();
    try {
      const url = new URL(target.databaseUrl!);
      url.pathname = '/no_such_database_here';
      const err = await rejection(openDb({ databaseUrl: url.toString(), dataDir: '/x' }));
      expect(err).toBeInstanceOf(DatabaseConnectionError);
      expect(err.message).toContain('database "no_such_database_here"');
      expect(err.message).toContain('the database does not exist');
    } finally {
      await target.cleanup();
    }
  });
});

describe('PGlite data folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'store-pglite-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created, persists across reopen, and is locked while open', async () => {
    const dataDir = path.join(dir, 'nested', 'data');
    const first = await openDb({ dataDir });
    await first.exec(`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here');`);

    const err = await rejection(openDb({ dataDir }));
    expect(err).toBeInstanceOf(DatabaseConnectionError);
    expect(err.message).toMatch(/is already in use .*set DATABASE_URL/);

    await first.close();
    await first.close(); // idempotent

    const second = await openDb({ dataDir });
    try {
      expect(await second.query('SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
    } finally {
      await second.close();
    }
  });

  it('takes over a lock left by a dead process but refuses one held by a live process', async () => {
    const dataDir = path.join(dir, 'locked');
    const db = await openDb({ dataDir });
    await db.close();
    const lock = path.join(dataDir, 'controller.lock');

    await writeFile(lock, '999999999\n'); // no such process
    const reopened = await openDb({ dataDir });
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(process.pid));
    await reopened.close();

    await writeFile(lock, `${process.ppid}\n`); // alive: our parent
    const err = await rejection(openDb({ dataDir }));
    expect(err.message).toContain(`process ${process.ppid}`);
    await rm(lock);
  });
});
