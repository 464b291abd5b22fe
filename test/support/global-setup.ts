/**
 * vitest globalSetup: starts the shared test stand once per `vitest run`, tears it down at the end.
 *
 * - moto server, no authentication          -> inject('motoUrl')
 * - moto server, authentication switched on -> inject('motoAuthUrl'), with bootstrap principals
 *   -> inject('motoAuthPrincipal'), inject('motoAuthAdmin')   (see moto-auth.ts)
 * - PostgreSQL: $DATABASE_URL if set (needs CREATEDB), else a throw-away cluster in a temp folder
 *   -> inject('postgresUrl') (maintenance database `postgres`)
 * - kube-apiserver + etcd on loopback (see "Kubernetes" below), coming up in the background ->
 *   inject('kubeStandFile'), written when they are up or cannot be had; `kubeStand()` in stand.ts
 *   waits for it, and only the tests that need them fail when they cannot be had, with the reason
 *
 * Installs what is missing on the way (scripts/stand/install-moto.sh -> .venv/moto, pinned in
 * requirements-test.txt; scripts/stand/ensure-postgres.sh -> apt-get install postgresql as root),
 * so `npm test` works on a fresh clone. When running as root, PostgreSQL runs as the `postgres`
 * user (or `nobody`), since initdb/postgres refuse to run as root.
 *
 * Env: DATABASE_URL (use this server), MOTO_VENV (moto venv, default .venv/moto),
 * PG_BIN (PostgreSQL bin dir), STAND_KEEP=1 (keep the temp folder with the servers' logs),
 * STAND_KUBE=0 (no kube-apiserver: no build on a first run; the `*.kube.test.ts` files then fail
 * saying so), KUBE_APISERVER / ETCD (use these binaries), KUBE_VERSION.
 * Processes left behind by a killed run are cleaned up by the next run (see `cleanupStale`).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Runs a bash script with stderr shown; resolves to its stdout (also shown unless captured).
 * `signal` kills the script and everything it started (its own process group).
 */
function runScript(rel: string, captureStdout: boolean, args: string[] = [], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn('bash', [path.join(ROOT, rel), ...args], {
      cwd: ROOT,
      stdio: ['ignore', captureStdout ? 'pipe' : 'inherit', 'inherit'],
      detached: signal !== undefined,
    });
    const kill = () => {
      try {
        process.kill(-proc.pid!, 'SIGTERM');
      } catch {
        /* already gone */
      }
    };
    signal?.addEventListener('abort', kill, { once: true });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('error', (e) => reject(new Error(`test stand: cannot run ${rel}: ${e.message} (is bash installed?)`)));
    proc.once('exit', (code, sig) => {
      signal?.removeEventListener('abort', kill);
      if (code === 0) resolve(out);
      else if (signal?.aborted) reject(new Error(`test stand: ${rel} was stopped: the test run ended first`));
      else reject(new Error(`test stand: ${rel} failed (${sig ?? `exit ${code}`}); its messages are above. Run it by hand to see more.`));
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

// --- Kubernetes (kube-apiserver + etcd) -----------------------------------------------------
//
// A real API server for the leader-election tests and for checking rendered Helm objects. The
// binaries come from the package registries only (scripts/stand/ensure-kube-apiserver.sh builds
// kube-apiserver from the k8s.io/kubernetes Go module and caches it; ensure-etcd.sh installs
// Debian's etcd-server). Test configuration, much like envtest's: loopback only, a generated
// service-account key, static bearer tokens (an admin in system:masters and an unprivileged user
// for RBAC checks), RBAC authorization, a self-signed serving certificate (clients skip TLS
// verification). No controller-manager or scheduler: objects are stored, never acted on.
// Failure here never fails the whole run: the reason is provided and the tests that need the API
// server fail with it.

/** What the file named by inject('kubeStandFile') holds once settled. `error` set means there is no API server (and why). */
export interface KubeStandInfo {
  url: string;
  /** Bearer token of `stand-admin` (group system:masters). */
  adminToken: string;
  /** Bearer token of `stand-user` (no groups: RBAC grants it nothing until bound). */
  userToken: string;
  /** A kubeconfig file for the admin (for kubectl/helm), TLS verification skipped. */
  kubeconfigPath: string;
  version: string;
  error: string;
}

const NO_KUBE: KubeStandInfo = { url: '', adminToken: '', userToken: '', kubeconfigPath: '', version: '', error: '' };
const KUBE_STARTUP_TIMEOUT_MS = 120_000;

/** GET over https with a bearer token, trusting any certificate (the stand's is self-signed). */
function kubeGet(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'GET', headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitForEtcd(child: Child, url: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exited) throw new Error(`etcd exited during startup (${await child.exit}). Log:\n${tail(child.logFile)}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      if (res.ok && body.includes('true')) return;
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  throw new Error(`etcd did not answer on ${url} within ${STARTUP_TIMEOUT_MS / 1000} s. Log:\n${tail(child.logFile)}`);
}

async function startEtcd(stand: Stand, etcdBin: string, dir: string): Promise<string> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const data = path.join(dir, `etcd-${attempt}`);
    const child = stand.spawn(
      'etcd',
      etcdBin,
      [
        '--name', 'stand',
        '--data-dir', data,
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `stand=${peer}`,
        '--initial-cluster-state', 'new',
        '--log-level', 'warn',
        '--logger', 'zap',
      ],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, cwd: dir, marker: data, stopSignal: 'SIGTERM' },
    );
    try {
      await waitForEtcd(child, client);
      return client;
    } catch (e) {
      lastError = e;
      await stand.stopChild(child);
      if (!/address already in use/i.test(tail(child.logFile))) break;
    }
  }
  throw lastError;
}

async function waitForKubeApiserver(child: Child, url: string, token: string): Promise<void> {
  const deadline = Date.now() + KUBE_STARTUP_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exited) throw new Error(`kube-apiserver exited during startup (${await child.exit}). Log:\n${tail(child.logFile)}`);
    try {
      const res = await kubeGet(`${url}/readyz`, token);
      if (res.status === 200) return;
      last = `readyz ${res.status}: ${res.body.slice(0, 300)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`kube-apiserver was not ready on ${url} within ${KUBE_STARTUP_TIMEOUT_MS / 1000} s (${last}). Log:\n${tail(child.logFile)}`);
}

function writeKubeconfig(file: string, url: string, token: string): void {
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: stand',
      '  cluster:',
      `    server: ${url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: stand-admin',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: stand',
      '  context:',
      '    cluster: stand',
      '    user: stand-admin',
      '    namespace: default',
      'current-context: stand',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
}

async function startKubeApiserver(stand: Stand, bin: string, etcdUrl: string, dir: string): Promise<KubeStandInfo> {
  const adminToken = randomBytes(24).toString('hex');
  const userToken = randomBytes(24).toString('hex');
  const tokens = path.join(dir, 'tokens.csv');
  // token,user,uid,"group1,group2"
  writeFileSync(tokens, `${adminToken},stand-admin,stand-admin,"system:masters"\n${userToken},stand-user,stand-user\n`, { mode: 0o600 });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKey = path.join(dir, 'sa.key');
  const saPub = path.join(dir, 'sa.pub');
  writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
  const certDir = path.join(dir, 'certs');
  mkdirSync(certDir, { recursive: true });
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim().replace(/^Kubernetes\s+/, '');

  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const child = stand.spawn(
      'kube-apiserver',
      bin,
      [
        `--etcd-servers=${etcdUrl}`,
        `--etcd-prefix=/stand-${port}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        // Loopback is refused as an endpoint of the kubernetes Service; envtest does the same.
        '--endpoint-reconciler-type=none',
        `--secure-port=${port}`,
        `--cert-dir=${certDir}`,
        `--token-auth-file=${tokens}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--disable-admission-plugins=ServiceAccount',
        '--allow-privileged=true',
        '--enable-priority-and-fairness=false',
        '--profiling=false',
      ],
      // SIGKILL: its graceful shutdown waits on etcd, which the stand stops at the same time, and
      // nothing it holds outlives the run.
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, cwd: dir, marker: `--secure-port=${port}`, stopSignal: 'SIGKILL' },
    );
    try {
      await waitForKubeApiserver(child, url, adminToken);
      const kubeconfigPath = path.join(dir, 'kubeconfig');
      writeKubeconfig(kubeconfigPath, url, adminToken);
      return { url, adminToken, userToken, kubeconfigPath, version, error: '' };
    } catch (e) {
      lastError = e;
      await stand.stopChild(child);
      if (!/address already in use/i.test(tail(child.logFile))) break;
    }
  }
  throw lastError;
}

/**
 * Obtains the binaries (building kube-apiserver on a machine's first run) and starts etcd and the
 * API server. Never rejects: on failure the result says why in `error`.
 */
async function startKube(stand: Stand, binaries: Promise<[string, string]>, stopped: AbortSignal): Promise<KubeStandInfo> {
  try {
    const [apiserverBin, etcdBin] = await binaries;
    const started = Date.now();
    const dir = path.join(stand.dir, 'kube');
    mkdirSync(dir, { recursive: true });
    const etcdUrl = await startEtcd(stand, etcdBin, dir);
    const etcdMs = Date.now() - started;
    const info = await startKubeApiserver(stand, apiserverBin, etcdUrl, dir);
    log(`etcd up in ${(etcdMs / 1000).toFixed(1)} s, kube-apiserver ready ${((Date.now() - started - etcdMs) / 1000).toFixed(1)} s later`);
    return info;
  } catch (e) {
    const message = (e as Error).message;
    if (stopped.aborted) log('the kube-apiserver build was stopped: the run ended before it was needed (the next run goes on from where it was)');
    else log(`no kube-apiserver for this run; the tests that need one will fail: ${message.split('\n')[0]}`);
    return { ...NO_KUBE, error: `test stand: no kube-apiserver: ${message}` };
  }
}

function lastLine(out: string, script: string): string {
  const line = out.trim().split('\n').pop() ?? '';
  if (!line) throw new Error(`${script} printed no path`);
  return line;
}

// --- entry point ------------------------------------------------------------------------------

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const stand = new Stand();
  const kubeBuild = new AbortController();
  let kubeDone: Promise<void> = Promise.resolve();
  // Stops a kube-apiserver build still running when the run ends (Go keeps what it compiled, so
  // the next run goes on from there), and waits until nothing more can be started.
  const stopKube = async () => {
    kubeBuild.abort();
    await kubeDone;
  };
  let kubeFile = '';
  try {
    stand.init();
    kubeFile = path.join(stand.dir, 'kube.json');
    // kube-apiserver + etcd, for the leader-election and chart tests: kube-apiserver is built from
    // Go modules on a machine's first run (about 1,000 s of CPU), cached after. It comes up in the
    // background: the rest of the suite does not wait for it, and the tests that need it
    // (`*.kube.test.ts`, run last by vitest.config.ts) wait in `kubeStand()`. The build needs no
    // apt-get, so it starts before the installs below.
    const kubeOff = process.env.STAND_KUBE === '0';
    const apiserverBin = kubeOff
      ? Promise.reject(new Error('STAND_KUBE=0: the stand starts no kube-apiserver. Unset STAND_KUBE to get one.'))
      : runScript('scripts/stand/ensure-kube-apiserver.sh', true, [], kubeBuild.signal).then((out) => lastLine(out, 'scripts/stand/ensure-kube-apiserver.sh'));
    apiserverBin.catch(() => {}); // awaited in startKube
    // One after the other: these may call apt-get on a fresh machine.
    await runScript('scripts/stand/install-moto.sh', false);
    // Browser tests only: a failure here fails them (saying why), not the whole run.
    const chromium = await runScript('scripts/stand/ensure-chromium.sh', true)
      .then((out): { path: string } | { error: string } => ({ path: lastLine(out, 'scripts/stand/ensure-chromium.sh') }))
      .catch((e: Error) => ({ error: e.message }));
    project.provide('chromium', chromium);
    const databaseUrl = process.env.DATABASE_URL;
    let pgBin = '';
    if (!databaseUrl) {
      pgBin = (await runScript('scripts/stand/ensure-postgres.sh', true)).trim().split('\n').pop() ?? '';
      if (!pgBin) throw new Error('test stand: scripts/stand/ensure-postgres.sh printed no directory');
    }
    const etcdBin = kubeOff ? apiserverBin : runScript('scripts/stand/ensure-etcd.sh', true).then((out) => lastLine(out, 'scripts/stand/ensure-etcd.sh'));
    await etcdBin.catch(() => {}); // before a test may call apt-get (promtool)
    kubeDone = startKube(stand, Promise.all([apiserverBin, etcdBin]), kubeBuild.signal).then((info) => {
      writeFileSync(`${kubeFile}.tmp`, JSON.stringify(info), { mode: 0o600 });
      renameSync(`${kubeFile}.tmp`, kubeFile);
      if (info.url) log(`kube-apiserver ${info.url} (${info.version}) ready ${((Date.now() - started) / 1000).toFixed(1)} s after the stand started`);
    }, (e: Error) => log(`cannot record the kube-apiserver's state: ${e.message}`));

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
    project.provide('kubeStandFile', kubeFile);
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: moto ${motoUrl}, moto-auth ${motoAuthUrl}, postgres ${databaseUrl ? '(DATABASE_URL)' : postgresUrl}`);
  } catch (e) {
    await stopKube();
    await stand.stop().catch(() => {});
    throw e;
  }
  return async () => {
    const t = Date.now();
    await stopKube();
    await stand.stop();
    log(`stopped in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };
}
