/**
 * The image's build and start rehearsed without a Docker engine (scripts/image/rehearse.sh): the
 * Dockerfile's stages replayed in a temp folder from the .dockerignore'd context, a clean
 * production-only install, then `node dist/cli/main.js serve` started as the image's uid 10001
 * (when the tests run as root), as PID 1 of its own PID namespace, with the application folder
 * read-only to it: /healthz and /readyz answer, SIGTERM ends it with exit 0, and no dev-only
 * package (typescript, vitest, ...) was installed. Started twice: as `docker run` would (embedded database in the image's DATA_DIR) and
 * as the Helm chart does (DATABASE_URL on the stand's PostgreSQL, DATA_DIR not writable).
 * About a minute with a warm npm cache.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshPostgresDatabase, type FreshDatabase } from '../support/stand.js';
import { ROOT, run, type Run } from './support.js';

interface StartChecks {
  healthzMs: number;
  readyzMs: number;
  metrics: number;
  appDirChanged: string[];
  dataDirFiles: string[];
  tmpFiles: string[];
  /** `name`: the program running (/proc/PID/exe), so a shell in between would show. */
  process: { name: string | null; namespacePid: number; uid: number; noNewPrivs: boolean };
  stop: { code: number | null; signal: string | null; ms: number };
}

interface Report {
  ok: boolean;
  error?: string;
  steps: { step: string; ms: number }[];
  skipped: { stage: string; run: string }[];
  context: string[];
  user: { image: string; rehearsedUid: number; droppedFromRoot: boolean };
  pid1: boolean;
  checks: StartChecks;
  stop: StartChecks['stop'];
  kubernetes?: StartChecks;
  packages: {
    installed: number;
    devOnlyDeclared: string[];
    devOnlyPresent: string[];
    devInstalled: string[];
    unknown: string[];
    missingDependencies: string[];
    present: Record<string, boolean>;
  };
  totalMs: number;
}

let dir: string;
let result: Run;
let report: Report;
let db: FreshDatabase | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hsc-rehearsal-test-'));
  const file = path.join(dir, 'report.json');
  db = await freshPostgresDatabase('image');
  result = await run('bash', [path.join(ROOT, 'scripts/image/rehearse.sh'), '--report', file, '--database-url', db.url], { timeoutMs: 420_000 });
  report = JSON.parse(await readFile(file, 'utf8')) as Report;
}, 450_000); // ~1 minute on an idle machine; several when other test files compete for the 2 cores

afterAll(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('rehearses the whole build and start successfully', () => {
  expect(report.error ?? null, result.stderr.split('\n').slice(-30).join('\n')).toBeNull();
  expect(report.ok).toBe(true);
  expect(result.code).toBe(0);
  expect(result.stdout.trim().split('\n').pop()).toMatch(/^image rehearsal: ok/);
  const steps = report.steps.map((s) => s.step);
  expect(steps).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^build: RUN .*npm ci --no-audit/),
      'build: RUN npm run build',
      expect.stringMatching(/^runtime: RUN .*npm ci --omit=dev/),
      'runtime: COPY /app/dist ./dist',
      'runtime: COPY migrations ./migrations',
    ]),
  );
  // Only the user/data-folder setup is a system step the rehearsal stands in for.
  expect(report.skipped.map((s) => s.stage)).toEqual(['runtime']);
  expect(report.skipped[0]!.run).toMatch(/^groupadd /);
});

it('serves /healthz, /readyz and /metrics as the image user, writing only to DATA_DIR', () => {
  expect(report.user.image).toBe('10001:10001');
  if (process.getuid?.() === 0) {
    expect(report.user.droppedFromRoot).toBe(true);
    expect(report.user.rehearsedUid).toBe(10001);
  }
  expect(report.checks.healthzMs).toBeGreaterThan(0);
  expect(report.checks.metrics).toBe(200);
  expect(report.checks.appDirChanged).toEqual([]);
  // The embedded database and its generated key went to DATA_DIR (no DATABASE_URL here).
  expect(report.checks.dataDirFiles).toEqual(expect.arrayContaining(['fernet.key', 'PG_VERSION']));
});

it('exits 0 within a few seconds of SIGTERM sent to node as PID 1, as a container runtime sends it', () => {
  // As root, node runs as PID 1 of its own PID namespace (unshare + setpriv): the kernel delivers
  // SIGTERM to a PID 1 only if it handles it, so this proves the handler, not a default action.
  if (process.getuid?.() === 0) {
    expect(report.pid1).toBe(true);
    expect(report.checks.process).toEqual({ name: 'node', namespacePid: 1, uid: 10001, noNewPrivs: true });
  }
  expect(report.stop.code).toBe(0);
  expect(report.stop.signal).toBeNull();
  expect(report.stop.ms).toBeLessThan(5_000);
});

it('runs as the chart runs it: DATABASE_URL, nothing written to DATA_DIR or the application folder', () => {
  const k = report.kubernetes!;
  expect(k).toBeDefined();
  expect(k.metrics).toBe(200);
  expect(k.readyzMs).toBeGreaterThan(0);
  expect(k.appDirChanged).toEqual([]);
  expect(k.dataDirFiles).toEqual([]); // it is not writable, and nothing needed it
  expect(k.stop).toMatchObject({ code: 0, signal: null });
  expect(k.stop.ms).toBeLessThan(5_000);
});

it('installs production dependencies only', () => {
  const p = report.packages;
  expect(p.devInstalled).toEqual([]);
  expect(p.unknown).toEqual([]);
  expect(p.missingDependencies).toEqual([]);
  expect(p.devOnlyDeclared).toEqual(expect.arrayContaining(['typescript', 'vitest', 'tsx']));
  expect(p.devOnlyPresent).toEqual([]);
  expect(p.present).toMatchObject({ typescript: false, vitest: false, tsx: false, esbuild: false, pg: true, pino: true });
});
