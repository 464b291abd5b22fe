/**
 * The two database backends every store test runs on: a PostgreSQL server (a fresh database of
 * its own on the test stand's cluster) and embedded PGlite (a fresh temp folder).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freshPostgresDatabase } from '../support/stand.js';

export interface BackendTarget {
  /** Set for PostgreSQL; absent for PGlite. */
  databaseUrl?: string;
  /** PGlite's folder (a temp folder for PostgreSQL too, unused there). */
  dataDir: string;
  cleanup(): Promise<void>;
}

export interface Backend {
  name: 'postgres' | 'pglite';
  fresh(): Promise<BackendTarget>;
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'store-test-'));
}

export const backends: Backend[] = [
  {
    name: 'postgres',
    async fresh() {
      const db = await freshPostgresDatabase('store');
      const dataDir = await tempDir();
      return {
        databaseUrl: db.url,
        dataDir,
        async cleanup() {
          await db.drop();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'pglite',
    async fresh() {
      const dir = await tempDir();
      return {
        dataDir: path.join(dir, 'db'),
        async cleanup() {
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

/** A new valid Fernet key. */
export function newKey(): string {
  return randomBytes(32).toString('base64url');
}

/** A unique id for rows of one test. */
export function uid(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}
