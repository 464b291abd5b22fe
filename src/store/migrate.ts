/**
 * Versioned schema migrations: `migrations/NNNN_name.sql`, applied in order, each in its own
 * transaction, recorded in `schema_migrations`. Safe to run from several processes at once on one
 * PostgreSQL database: every step holds a transaction-scoped advisory lock and re-reads what is
 * already applied under it (PGlite supports the same lock).
 */
import { readdir, readFile } from 'node:fs/promises';
import type { Db } from './types.js';

/** `migrations/` at the package root: the same two levels up from dist/store and src/store. */
export const MIGRATIONS_DIR = new URL('../../migrations/', import.meta.url);

/** Key of the advisory lock serialising migrations (any constant int8 unique to this app). */
export const MIGRATION_LOCK_KEY = 4_823_901_177_306_112n;

const FILE_NAME = /^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  /** `NNNN_name`, as reported in `applied`. */
  id: string;
  sql: string;
}

export interface MigrateResult {
  /** Ids (`NNNN_name`) applied by this call, in order; empty when the schema was up to date. */
  applied: string[];
}

export interface MigrationStatus {
  id: string;
  version: number;
  name: string;
  appliedAt: Date | null;
}

/** Reads the migration files in version order; throws on a malformed name or a repeated version. */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (err) {
    throw new Error(`cannot read the migrations folder ${dir.pathname}: ${(err as Error).message}`);
  }
  const migrations: Migration[] = [];
  for (const file of files.sort()) {
    if (!file.endsWith('.sql')) continue;
    const match = FILE_NAME.exec(file);
    if (!match) {
      throw new Error(`migration file ${file} is not named NNNN_name.sql (lowercase, digits, _)`);
    }
    const version = Number(match[1]);
    const name = match[2] ?? '';
    if (migrations.some((m) => m.version === version)) {
      throw new Error(`two migration files share version ${match[1]}`);
    }
    const sql = await readFile(new URL(file, dir), 'utf8');
    migrations.push({ version, name, id: `${match[1]}_${name}`, sql });
  }
  return migrations.sort((a, b) => a.version - b.version);
}

const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`;

async function lock(tx: Db): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY.toString()]);
}

async function appliedVersions(db: Db): Promise<Set<number>> {
  const rows = await db.query<{ version: number }>('SELECT version FROM schema_migrations');
  return new Set(rows.map((r) => r.version));
}

/**
 * Applies every migration not yet recorded, in version order, one transaction each.
 * Idempotent; concurrent callers wait for each other and each migration is applied exactly once.
 */
export async function migrate(db: Db, opts: { dir?: URL } = {}): Promise<MigrateResult> {
  const migrations = await loadMigrations(opts.dir);
  // Even CREATE TABLE IF NOT EXISTS races between sessions, so it is done under the lock too.
  await db.transaction(async (tx) => {
    await lock(tx);
    await tx.exec(CREATE_TABLE);
  });

  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await db.transaction(async (tx) => {
      await lock(tx);
      if ((await appliedVersions(tx)).has(migration.version)) return false;
      try {
        await tx.exec(migration.sql);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new Error(`migration ${migration.id} failed: ${reason}`, { cause: err });
      }
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      return true;
    });
    if (done) applied.push(migration.id);
  }
  return { applied };
}

/** Every known migration with when it was applied (null = pending), plus unknown applied ones. */
export async function migrationStatus(
  db: Db,
  opts: { dir?: URL } = {},
): Promise<MigrationStatus[]> {
  const migrations = await loadMigrations(opts.dir);
  const exists = await db.query<{ present: boolean }>(
    `SELECT to_regclass('schema_migrations') IS NOT NULL AS present`,
  );
  const rows = exists[0]?.present
    ? await db.query<{ version: number; name: string; applied_at: Date }>(
        'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
      )
    : [];
  const byVersion = new Map(rows.map((r) => [r.version, r]));
  const status: MigrationStatus[] = migrations.map((m) => ({
    id: m.id,
    version: m.version,
    name: m.name,
    appliedAt: byVersion.get(m.version)?.applied_at ?? null,
  }));
  for (const row of rows) {
    if (!migrations.some((m) => m.version === row.version)) {
      status.push({
        id: `${String(row.version).padStart(4, '0')}_${row.name}`,
        version: row.version,
        name: row.name,
        appliedAt: row.applied_at,
      });
    }
  }
  return status.sort((a, b) => a.version - b.version);
}
