/**
 * vitest globalSetup: starts the shared test stand once per `vitest run`, tears it down at the end.
 *
 * - moto server, no authentication          -> inject('motoUrl')
 * - moto server, authentication switched on -> inject('motoAuthUrl'), with bootstrap principals
 *   -> inject('motoAuthPrincipal'), inject('motoAuthAdmin')   (see moto-auth.ts)
 * - PostgreSQL: $DATABASE_URL if set (needs CREATEDB), else a throw-away cluster in a temp folder
 *   -> inject('postgresUrl') (maintenance database `postgres`)
 *
 * Installs what is missing on the way (scripts/stand/install-moto.sh -> .venv/moto, pinned in
 * requirements-test.txt; scripts/stand/ensure-postgres.sh -> apt-get install postgresql as root),
 * so `npm test` works on a fresh clone. When running as root, PostgreSQL runs as the `postgres`
 * user (or `nobody`), since initdb/postgres refuse to run as root.
 *
 * Env: DATABASE_URL (use this server), MOTO_VENV (moto venv, default .venv/moto),
 * PG_BIN (PostgreSQL bin dir), STAND_KEEP=1 (keep the temp folder with the servers' logs).
 * Processes left behind by a killed run are cleaned up by the next run (see `cleanupStale`).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { bootstrapMotoAuth, enableMotoAuth } from './moto-auth.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TMP_PREFIX = 'hsc-stand-';
const STARTUP_TIMEOUT_MS = 60_000;

interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
  /** exit code (or signal name) once exited */
  exit: Promise<number | string>;
  exited: boolean;
  stopSignal: NodeJS.Signals;
}

interface StandRecord {
  ownerPid: number;
  children: { pid: number; marker: string }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function log(msg: string): void {
  process.stderr.write(`[stand] ${msg}\n`);
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs a bash script with stderr shown; resolves to its stdout (also shown unless captured). */
function runScript(rel: string, captureStdout: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn('bash', [path.join(ROOT, rel)], { cwd: ROOT, stdio: ['ignore', captureStdout ? 'pipe' : 'inherit', 'inherit'] });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('error', (e) => reject(new Error(`test stand: cannot run ${rel}: ${e.message} (is bash installed?)`)));
    proc.once('exit', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`test stand: ${rel} failed (${signal ?? `exit ${code}`}); its messages are above. Run it by hand to see more.`));
    });
  });
}

/**
 * Kills servers and removes temp folders of earlier runs whose vitest process is gone
 * (e.g. killed with SIGKILL). Runs of other live vitest processes are left alone.
 */
function cleanupStale(): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(TMP_PREFIX));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = path.join(tmpdir(), entry);
    let rec: StandRecord;
    try {
      rec = JSON.parse(readFileSync(path.join(dir, 'stand.json'), 'utf8')) as StandRecord;
    } catch {
      continue; // not ours, or still being created
    }
    if (isAlive(rec.ownerPid)) continue;
    let allGone = true;
    for (const { pid, marker } of rec.children) {
      if (!isAlive(pid)) continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        allGone = false; // cannot tell whether the pid is still ours: leave it
        continue;
      }
      if (cmdline.includes(marker)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          allGone = false;
        }
      }
    }
    if (allGone) {
      log(`removing leftovers of an earlier run: ${dir}`);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

class Stand {
  readonly children: Child[] = [];
  dir = '';
  private record: StandRecord = { ownerPid: process.pid, children: [] };
  private readonly onExit = () => this.killNow();

  init(): void {
    cleanupStale();
    this.dir = mkdtempSync(path.join(tmpdir(), TMP_PREFIX));
    // Traversable by the unprivileged PostgreSQL user when we are root.
    chmodSync(this.dir, 0o711);
    mkdirSync(path.join(this.dir, 'logs'));
    this.saveRecord();
    process.once('exit', this.onExit);
  }

  private saveRecord(): void {
    writeFileSync(path.join(this.dir, 'stand.json'), JSON.stringify(this.record));
  }

  spawn(name: string, cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; uid?: number; gid?: number; cwd?: string; marker: string; stopSignal: NodeJS.Signals }): Child {
    const logFile = path.join(this.dir, 'logs', `${name}.log`);
    const fd = openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(cmd, args, {
        env: opts.env,
        cwd: opts.cwd ?? this.dir,
        stdio: ['ignore', fd, fd],
        ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
      });
    } finally {
      closeSync(fd);
    }
    const child: Child = {
      name,
      proc,
      logFile,
      exited: false,
      stopSignal: opts.stopSignal,
      exit: new Promise((resolve) => {
        proc.once('error', (e) => {
          writeFileSync(logFile, `spawn ${cmd}: ${e.message}\n`, { flag: 'a' });
          child.exited = true;
          resolve(`spawn error: ${e.message}`);
        });
        proc.once('exit', (code, signal) => {
          child.exited = true;
          resolve(code ?? signal ?? 'unknown');
        });
      }),
    };
    this.children.push(child);
    if (proc.pid !== undefined) {
      this.record.children.push({ pid: proc.pid, marker: opts.marker });
      this.saveRecord();
    }
    return child;
  }

  async stopChild(child: Child): Promise<void> {
    if (!child.exited) {
      child.proc.kill(child.stopSignal);
      const done = await Promise.race([child.exit.then(() => true), sleep(10_000).then(() => false)]);
      if (!done) {
        child.proc.kill('SIGKILL');
        await Promise.race([child.exit, sleep(2_000)]);
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((c) => this.stopChild(c)));
    process.removeListener('exit', this.onExit);
    this.removeDir();
  }

  /** Synchronous last resort when the process exits without teardown. */
  private killNow(): void {
    for (const c of this.children) {
      if (!c.exited) {
        try {
          c.proc.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    this.removeDir();
  }

  private removeDir(): void {
    if (!this.dir) return;
    if (process.env.STAND_KEEP === '1') {
      log(`STAND_KEEP=1: kept ${this.dir} (server logs in logs/)`);
      return;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// --- moto -------------------------------------------------------------------------------------

function motoServerPath(): string {
  const venv = process.env.MOTO_VENV ?? path.join(ROOT, '.venv', 'moto');
  return path.join(venv, 'bin', 'moto_server');
}

async function waitForMoto(child: Child, url: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exited) throw new Error(`${child.name} exited during startup (${await child.exit}). Log:\n${tail(child.logFile)}`);
    try {
      const res = await fetch(`${url}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  throw new Error(`${child.name} did not answer on ${url} within ${STARTUP_TIMEOUT_MS / 1000} s. Log:\n${tail(child.logFile)}`);
}

async function startMoto(stand: Stand, name: string): Promise<string> {
  const bin = motoServerPath();
  if (!existsSync(bin)) throw new Error(`test stand: moto not installed (${bin} missing): run scripts/stand/install-moto.sh`);
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
  // Both servers start unauthenticated (infinite budget); the auth server is switched on by
  // enableMotoAuth after bootstrap. MOTO_ACCOUNT_ID would pin every request to one account.
  delete env.INITIAL_NO_AUTH_ACTION_COUNT;
  delete env.MOTO_ACCOUNT_ID;
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = stand.spawn(name, bin, ['-H', '127.0.0.1', '-p', String(port)], { env, marker: `-p ${port}`, stopSignal: 'SIGTERM' });
    try {
      await waitForMoto(child, url);
      return url;
    } catch (e) {
      lastError = e;
      await stand.stopChild(child);
      if (!/Address already in use/i.test(tail(child.logFile))) break; // only a port race is worth a retry
    }
  }
  throw lastError;
}

// --- PostgreSQL -------------------------------------------------------------------------------

function unprivilegedUser(): { user: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      if (uid > 0) return { user, uid, gid };
    } catch {
      /* no such user */
    }
  }
  throw new Error('test stand: running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as (initdb refuses root). Create one (useradd -r postgres) or set DATABASE_URL.');
}

async function waitForPostgres(child: Child, url: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exited) throw new Error(`postgres exited during startup (${await child.exit}). Log:\n${tail(child.logFile)}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (e) {
      lastError = (e as Error).message;
      await client.end().catch(() => {});
    }
    await sleep(100);
  }
  throw new Error(`postgres did not accept connections on ${url} within ${STARTUP_TIMEOUT_MS / 1000} s (${lastError}). Log:\n${tail(child.logFile)}`);
}

async function startPostgres(stand: Stand, pgBin: string): Promise<string> {
  const as = unprivilegedUser();
  const pgDir = path.join(stand.dir, 'pg');
  const data = path.join(pgDir, 'data');
  const sock = path.join(pgDir, 'sock');
  mkdirSync(pgDir, { mode: 0o700 });
  mkdirSync(sock, { mode: 0o700 });
  if (as) {
    chownSync(pgDir, as.uid, as.gid);
    chownSync(sock, as.uid, as.gid);
  }
  const ids = as ? { uid: as.uid, gid: as.gid } : {};
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: pgDir, LANG: 'C', LC_ALL: 'C', TZ: 'UTC' };

  const initdb = stand.spawn('initdb', path.join(pgBin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    env,
    cwd: pgDir,
    marker: data,
    stopSignal: 'SIGTERM',
    ...ids,
  });
  const code = await initdb.exit;
  if (code !== 0) {
    throw new Error(`test stand: initdb failed (${code})${as ? ` running as user ${as.user}` : ''}. Log:\n${tail(initdb.logFile)}`);
  }

  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const server = stand.spawn(
      'postgres',
      path.join(pgBin, 'postgres'),
      [
        '-D', data,
        '-p', String(port),
        '-k', sock,
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'fsync=off',
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
        '-c', 'max_connections=300',
        '-c', 'shared_buffers=64MB',
      ],
      // SIGINT = PostgreSQL "fast shutdown"
      { env, cwd: pgDir, marker: data, stopSignal: 'SIGINT', ...ids },
    );
    try {
      await waitForPostgres(server, url);
      return url;
    } catch (e) {
      lastError = e;
      await stand.stopChild(server);
      if (!/could not bind|Address already in use/i.test(tail(server.logFile))) break;
    }
  }
  throw lastError;
}

async function checkDatabaseUrl(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (e) {
    throw new Error(`test stand: DATABASE_URL is set but does not work (${(e as Error).message}). Unset it to get a throw-away PostgreSQL cluster.`);
  } finally {
    await client.end().catch(() => {});
  }
}

// --- entry point ------------------------------------------------------------------------------

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const stand = new Stand();
  try {
    stand.init();
    // One after the other: both may call apt-get on a fresh machine.
    await runScript('scripts/stand/install-moto.sh', false);
    const databaseUrl = process.env.DATABASE_URL;
    let pgBin = '';
    if (!databaseUrl) {
      pgBin = (await runScript('scripts/stand/ensure-postgres.sh', true)).trim().split('\n').pop() ?? '';
      if (!pgBin) throw new Error('test stand: scripts/stand/ensure-postgres.sh printed no directory');
    }

    const [motoUrl, motoAuthUrl, postgresUrl] = await Promise.all([
      startMoto(stand, 'moto'),
      startMoto(stand, 'moto-auth'),
      databaseUrl ? checkDatabaseUrl(databaseUrl).then(() => databaseUrl) : startPostgres(stand, pgBin),
    ]);
    const { admin, principal } = await bootstrapMotoAuth(motoAuthUrl);
    await enableMotoAuth(motoAuthUrl);

    project.provide('motoUrl', motoUrl);
    project.provide('motoAuthUrl', motoAuthUrl);
    project.provide('postgresUrl', postgresUrl);
    project.provide('motoAuthAdmin', admin);
    project.provide('motoAuthPrincipal', principal);
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: moto ${motoUrl}, moto-auth ${motoAuthUrl}, postgres ${databaseUrl ? '(DATABASE_URL)' : postgresUrl}`);
  } catch (e) {
    await stand.stop().catch(() => {});
    throw e;
  }
  return async () => {
    const t = Date.now();
    await stand.stop();
    log(`stopped in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };
}
