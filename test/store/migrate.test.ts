import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/db.js';
import {
  loadMigrations,
  migrate,
  migrationStatus,
  MIGRATIONS_DIR,
} from '../../src/store/migrate.js';
import type { Db } from '../../src/store/types.js';
import { backends, type BackendTarget } from './backends.js';

const TABLES = ['controller_settings', 'deliveries', 'gc_breakers', 'journal', 'links', 'managed_resources', 'partner_addons', 'schema_migrations'];

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('migration files', () => {
  it('are found next to the sources and named NNNN_name.sql', async () => {
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql'));
    const migrations = await loadMigrations();
    expect(migrations.map((m) => `${m.id}.sql`)).toEqual(files.sort());
    expect(migrations[0]).toMatchObject({ version: 1, name: 'initial', id: '0001_initial' });
  });

  it('refuse malformed names and repeated versions', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
    try {
      const url = pathToFileURL(`${dir}/`);
      await writeFile(path.join(dir, '0001_a.sql'), 'SELECT 1;');
      await writeFile(path.join(dir, '0001_b.sql'), 'SELECT 1;');
      await expect(loadMigrations(url)).rejects.toThrow(/two migration files share version 0001/);
      await rm(path.join(dir, '0001_b.sql'));
      await writeFile(path.join(dir, '2_Bad-Name.sql'), 'SELECT 1;');
      await expect(loadMigrations(url)).rejects.toThrow(/2_Bad-Name\.sql is not named NNNN_name\.sql/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.each(backends)('migrate on $name', (backend) => {
  let target: BackendTarget;
  let db: Db;
  const extra: Db[] = [];

  beforeAll(async () => {
    target = await backend.fresh();
    db = await openDb(target);
  });

  afterEach(async () => {
    await Promise.all(extra.splice(0).map((d) => d.close()));
  });

  afterAll(async () => {
    await db?.close();
    await target?.cleanup();
  });

  it('applies every migration once, then nothing', async () => {
    const all = (await loadMigrations()).map((m) => m.id);
    expect(await migrationStatus(db)).toEqual(
      all.map((id) => expect.objectContaining({ id, appliedAt: null })),
    );

    const first = await migrate(db);
    expect(first.applied).toEqual(all);

    const second = await migrate(db);
    expect(second.applied).toEqual([]);

    const rows = await db.query<{ version: number; name: string; applied_at: Date }>(
      'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
    );
    expect(rows.map((r) => `${String(r.version).padStart(4, '0')}_${r.name}`)).toEqual(all);
    for (const row of rows) expect(row.applied_at).toBeInstanceOf(Date);

    const status = await migrationStatus(db);
    expect(status.every((s) => s.appliedAt instanceof Date)).toBe(true);

    const tables = await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
       WHERE table_schema = current_schema() ORDER BY table_name`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(TABLES);
  });

  it('makes the journal append-only', async () => {
    await migrate(db);
    await db.query(
      `INSERT INTO journal (instance_id, action, resource, phase) VALUES ('i', 'a', 'r', 'ok')`,
    );
    const update = await rejection(db.query(`UPDATE journal SET action = 'changed'`));
    expect(update.message).toMatch(/journal is append-only: UPDATE is not allowed/);
    const del = await rejection(db.query('DELETE FROM journal'));
    expect(del.message).toMatch(/journal is append-only: DELETE is not allowed/);
    const truncate = await rejection(db.exec('TRUNCATE journal'));
    expect(truncate.message).toMatch(/journal is append-only: TRUNCATE is not allowed/);
    expect(await db.query('SELECT action FROM journal')).toEqual([{ action: 'a' }]);
  });

  it('rolls back a failing migration and reports it by name', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
    try {
      await writeFile(path.join(dir, '0001_ok.sql'), 'CREATE TABLE mig_ok (v int);');
      await writeFile(
        path.join(dir, '0002_broken.sql'),
        'CREATE TABLE mig_half (v int); SELECT * FROM no_such_table;',
      );
      const other = await openDb(await scratch(backend.name, target, extra));
      const err = await rejection(migrate(other, { dir: pathToFileURL(`${dir}/`) }));
      expect(err.message).toMatch(/^migration 0002_broken failed: .*no_such_table/);
      const tables = await other.query<{ t: string | null; h: string | null }>(
        `SELECT to_regclass('mig_ok')::text AS t, to_regclass('mig_half')::text AS h`,
      );
      expect(tables).toEqual([{ t: 'mig_ok', h: null }]);
      const versions = await other.query('SELECT version FROM schema_migrations');
      expect(versions).toEqual([{ version: 1 }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is safe when two processes migrate the same database at once', async () => {
    const fresh = await scratch(backend.name, target, extra);
    let a: Db;
    let b: Db;
    if (backend.name === 'postgres') {
      // Two pools: two independent sessions, as two processes would have.
      [a, b] = await Promise.all([openDb(fresh), openDb(fresh)]);
      extra.push(a, b);
    } else {
      // PGlite admits one process per folder (locked); concurrent calls in it must still be safe.
      a = await openDb(fresh);
      extra.push(a);
      b = a;
    }
    const results = await Promise.all([migrate(a), migrate(b), migrate(a), migrate(b)]);
    const all = (await loadMigrations()).map((m) => m.id);
    expect(results.flatMap((r) => r.applied).sort()).toEqual(all);
    const rows = await a.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
    expect(rows).toEqual([{ n: all.length }]);
  });
});

/**
 * Another empty database next to `target`: a second database on the PostgreSQL server, or a
 * second PGlite folder. Closed by the caller through `extra`; dropped with the target.
 */
async function scratch(
  kind: 'postgres' | 'pglite',
  target: BackendTarget,
  extra: Db[],
): Promise<{ databaseUrl?: string; dataDir: string }> {
  if (kind === 'pglite') {
    return { dataDir: await mkdtemp(path.join(target.dataDir, '..', 'scratch-')) };
  }
  // A fresh schema in the same database is enough for migrations: search_path picks it first.
  const name = `s_${Math.random().toString(36).slice(2, 10)}`;
  const admin = await openDb(target);
  extra.push(admin);
  await admin.exec(`CREATE SCHEMA ${name}`);
  const url = new URL(target.databaseUrl!);
  url.searchParams.set('options', `-c search_path=${name}`);
  return { databaseUrl: url.toString(), dataDir: target.dataDir };
}
