/**
 * Lints what `/metrics` serves with Prometheus's own `promtool check metrics`, after a populated
 * run: passes of every result, AWS calls, Heroku requests, a drift report of several kinds. The
 * test installs promtool itself (scripts/stand/ensure-promtool.sh), so `npm test` on a fresh
 * machine needs nothing else; where it cannot be installed the test fails and says why.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HttpServer } from '../../src/http/listen.js';
import { startPrivateListener } from '../../src/http/private-listener.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { ApiCallRecorder } from '../../src/sinks/aws/api-calls.js';
import { ACCOUNT_A, ACCOUNT_B, mixedReport } from './fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

let promtool: string;
let server: HttpServer;
let metrics: Metrics;

beforeAll(async () => {
  const ensure = await run('bash', [path.join(ROOT, 'scripts/stand/ensure-promtool.sh')]);
  if (ensure.code !== 0) {
    throw new Error(
      `promtool is needed to lint /metrics and could not be made available: scripts/stand/ensure-promtool.sh exited ${ensure.code}.\n${ensure.stderr.trim()}\n` +
        'Install promtool (Debian/Ubuntu: apt-get install prometheus), or set PROMTOOL=/path/to/promtool.',
    );
  }
  promtool = ensure.stdout.trim().split('\n').pop() ?? '';

  metrics = new Metrics(); // with the process metrics: they are linted too
  const recorder = new ApiCallRecorder();
  recorder.onCall((call) => metrics.observeAwsCall(call));
  for (const [service, operation, outcome] of [
    ['sts', 'AssumeRole', 'ok'],
    ['s3', 'ListBuckets', 'ok'],
    ['s3', 'GetBucketTagging', 'error'],
    ['s3', 'PutPublicAccessBlock', 'ok'],
    ['iam', 'GetAccountAuthorizationDetails', 'ok'],
    ['iam', 'CreateAccessKey', 'ok'],
  ] as const) {
    recorder.record({ accountId: ACCOUNT_A, service, operation, outcome });
  }
  for (const [method, p, status] of [
    ['GET', '/teams/acme/addons', 206],
    ['GET', '/teams/acme/apps', 200],
    ['GET', '/addon-attachments', 200],
    ['GET', '/teams/beta/addons', 429],
    ['PATCH', '/apps/acme-web/config-vars', 200],
  ] as const) {
    metrics.observeHerokuRequest({ method, path: p, status });
  }
  metrics.setHerokuRateLimit(4410);
  metrics.recordPass({ result: 'success', durationSeconds: 3.2, herokuComplete: true, awsComplete: true, at: new Date() });
  metrics.recordPass({ result: 'partial', durationSeconds: 75, herokuComplete: false, awsComplete: true, at: new Date() });
  metrics.recordPass({ result: 'failure', durationSeconds: 0.02, herokuComplete: false, awsComplete: false, at: new Date() });
  metrics.setDriftReport(mixedReport());
  metrics.setManagedResources(ACCOUNT_A, { bucket: 4, iam_user: 4, access_key: 4 });
  metrics.setManagedResources(ACCOUNT_B, { bucket: 2, iam_user: 2, access_key: 1 });
  metrics.setIamUsers(ACCOUNT_A, 12);
  metrics.setIamUsers(ACCOUNT_B, 4990, 5000);
  metrics.setAccessKeyAges(ACCOUNT_A, [new Date(Date.now() - 100 * 86_400_000), null], new Date(), 90 * 86_400_000);
  metrics.setRotations(ACCOUNT_A, ['delivered', 'deactivated'], 1);

  server = await startPrivateListener(
    0,
    { health: { lastPassAt: () => new Date(), maxPassAgeMs: 60_000 }, metrics, drift: () => mixedReport(), authenticator: { fromBearerToken: async () => null } },
    '127.0.0.1',
  );
});

afterAll(async () => {
  await server?.close();
});

it('promtool finds no problem in the scraped /metrics', async () => {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  const body = await res.text();
  // The scrape is the populated one, not an empty registry.
  for (const name of ['drift_items', 'drift_flapping', 'managed_resources', 'reconcile_total', 'reconcile_duration_seconds_bucket', 'api_requests_total', 'heroku_rate_limit_remaining', 'last_successful_sync_timestamp_seconds', 'iam_users_quota_ratio', 'iam_users_quota{', 'access_key_oldest_age_seconds', 'access_keys_past_max_age', 'key_rotations_in_flight', 'key_rotation_deactivations_held', 'process_cpu_seconds_total']) {
    expect(body).toContain(`heroku_s3_controller_${name}`);
  }
  const check = await run(promtool, ['check', 'metrics'], body);
  expect({ code: check.code, output: (check.stdout + check.stderr).trim() }).toEqual({ code: 0, output: '' });
});

it('promtool really lints what it is given (a known-bad exposition is rejected)', async () => {
  const bad = '# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n';
  const check = await run(promtool, ['check', 'metrics'], bad);
  expect(check.code).not.toBe(0);
  expect(check.stdout + check.stderr).toMatch(/_total/);
});
