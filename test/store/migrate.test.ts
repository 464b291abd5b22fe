import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
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

const TABLES = ['api_tokens', 'console_sessions', 'controller_settings', 'deliveries', 'event_sources', 'gc_breakers', 'journal', 'key_rotations', 'kind_resources', 'links', 'managed_resources', 'partner_addons', 'schema_migrations'];

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

  it('moves every record of a store made before 0008 into its kind\'s row, losing no row or value', async () => {
    // The store as 0007 left it: a bucket record with every column set, one whose create was
    // never sent, and a credentials record without a bucket.
    const upTo7 = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
    try {
      for (const m of (await loadMigrations()).filter((m) => m.version <= 7)) await copyFile(new URL(`${m.id}.sql`, MIGRATIONS_DIR), path.join(upTo7, `${m.id}.sql`));
      const old = await openDb(await scratch(backend.name, target, extra));
      extra.push(old);
      await migrate(old, { dir: pathToFileURL(`${upTo7}/`) });
      await old.exec(`
        INSERT INTO managed_resources (addon_id, addon_name, account_id, team_id, app_id, plan, kind, bucket_name, bucket_region,
            user_name, access_key_id, secret_access_key_enc, bucket_create_started_at, deep_checked_at, orphaned_at, orphan_reason,
            delete_after, teardown_started_at, state, last_error, created_at, updated_at)
          VALUES ('a1', 'bucket-one', '111111111111', 't1', 'app1', 'standard', 'bucket', 'hs3-a1', 'eu-west-1', 'hs3-u-a1', 'AKIA1', 'enc-1',
            '2026-01-02T03:04:05.678Z', '2026-01-03T00:00:00Z', '2026-01-04T00:00:00Z', 'orphaned', '2026-01-11T00:00:00Z', '2026-01-12T00:00:00Z',
            'error', 'AccessDenied', '2025-12-01T00:00:00Z', '2026-01-12T00:00:00Z');
        INSERT INTO managed_resources (addon_id, addon_name, account_id, team_id, app_id, plan, bucket_name, bucket_region, user_name, state)
          VALUES ('a2', 'bucket-two', '111111111111', 't1', 'app2', 'archive', 'hs3-a2', 'us-east-1', 'hs3-u-a2', 'pending');
        INSERT INTO managed_resources (addon_id, addon_name, account_id, team_id, app_id, plan, kind, bucket_name, bucket_region, user_name, access_key_id, state)
          VALUES ('a3', 'creds', '222222222222', 't2', 'app3', 'role', 'credentials', NULL, 'us-east-2', 'hs3-u-a3', 'AKIA3', 'ready');`);
      const before = await old.query(`SELECT addon_id, addon_name, account_id, team_id, app_id, plan, kind, bucket_name AS name, bucket_region AS region,
          user_name, access_key_id, secret_access_key_enc, bucket_create_started_at AS create_started_at, deep_checked_at, orphaned_at, orphan_reason,
          delete_after, teardown_started_at, state, last_error, created_at FROM managed_resources ORDER BY addon_id`);
      expect(before).toHaveLength(3);

      expect((await migrate(old)).applied).toEqual(['0008_kind_resources', '0009_api_tokens_and_sessions', '0010_access_key_created_at', '0011_key_rotations', '0012_change_events']);
      const after = await old.query(`SELECT m.addon_id, m.addon_name, m.account_id, m.team_id, m.app_id, m.plan, m.kind, r.name, m.region,
          m.user_name, m.access_key_id, m.secret_access_key_enc, r.create_started_at, m.deep_checked_at, m.orphaned_at, m.orphan_reason,
          m.delete_after, m.teardown_started_at, m.state, m.last_error, m.created_at
          FROM managed_resources m LEFT JOIN kind_resources r ON r.addon_id = m.addon_id AND r.kind = m.kind ORDER BY m.addon_id`);
      expect(after).toEqual(before);
      expect(await old.query('SELECT addon_id, kind, name FROM kind_resources ORDER BY addon_id')).toEqual([
        { addon_id: 'a1', kind: 'bucket', name: 'hs3-a1' },
        { addon_id: 'a2', kind: 'bucket', name: 'hs3-a2' },
      ]);
      // Still one add-on per bucket, and a record's resources go with it.
      await expect(old.query(`INSERT INTO kind_resources (addon_id, kind, name) VALUES ('a3', 'bucket', 'hs3-a1')`)).rejects.toMatchObject({ code: '23505' });
      await old.query(`DELETE FROM managed_resources WHERE addon_id = 'a1'`);
      expect(await old.query('SELECT addon_id FROM kind_resources')).toEqual([{ addon_id: 'a2' }]);
    } finally {
      await rm(upTo7, { recursive: true, force: true });
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
