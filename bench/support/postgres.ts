/**
 * A throw-away PostgreSQL cluster for the benchmarks (the deployment's database: the Helm chart
 * runs the controller on PostgreSQL, not on the embedded PGlite, which would put every query's
 * CPU inside the measured process). Binaries from scripts/stand/ensure-postgres.sh; run as the
 * `postgres` (or `nobody`) user when we are root, as the test stand does. Same settings as the
 * test stand (fsync off: the database is not what is measured).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ROOT } from './moto.js';
import { freePort } from './ports.js';

export interface Postgres {
  /** A new empty database; its URL. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

function unprivileged(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      if (uid > 0) return { uid, gid };
    } catch {
      /* no such user */
    }
  }
  throw new Error('bench: running as root, and no `postgres` or `nobody` user to run PostgreSQL as');
}

export async function startPostgres(): Promise<Postgres> {
  const found = spawnSync('bash', [path.join(ROOT, 'scripts/stand/ensure-postgres.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const bin = found.stdout.trim().split('\n').pop() ?? '';
  if (found.status !== 0 || !bin) throw new Error('bench: no PostgreSQL binaries (scripts/stand/ensure-postgres.sh failed; see above)');
  const ids = unprivileged();
  const dir = mkdtempSync(path.join(tmpdir(), 'hsc-bench-pg-'));
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  mkdirSync(sock, { mode: 0o700 });
  if (ids) {
    chownSync(dir, ids.uid, ids.gid);
    chownSync(sock, ids.uid, ids.gid);
  }
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LANG: 'C', LC_ALL: 'C', TZ: 'UTC' };
  const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], { env, cwd: dir, ...ids, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`bench: initdb failed: ${init.stderr}`);
  const port = await freePort();
  const log = openSync(path.join(dir, 'postgres.log'), 'a');
  const server = spawn(
    path.join(bin, 'postgres'),
    ['-D', data, '-p', String(port), '-k', sock, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200', '-c', 'shared_buffers=64MB'],
    { env, cwd: dir, ...ids, stdio: ['ignore', log, log] },
  );
  const kill = () => {
    if (server.exitCode === null) server.kill('SIGINT');
  };
  process.once('exit', kill);
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.end();
      break;
    } catch {
      await client.end().catch(() => {});
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`bench: PostgreSQL did not start; see ${dir}/postgres.log`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    async createDatabase() {
      const name = `bench_${randomBytes(6).toString('hex')}`;
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      await client.query(`CREATE DATABASE "${name}"`);
      await client.end();
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      process.removeListener('exit', kill);
      if (server.exitCode === null) {
        const exited = new Promise((r) => server.once('exit', r));
        server.kill('SIGINT');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
