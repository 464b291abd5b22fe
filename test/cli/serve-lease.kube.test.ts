/**
 * `serve` with LEADER_ELECTION=kubernetes through the binary, against the stand's real
 * kube-apiserver (KUBECONFIG): two replicas, one holds the Lease and the other stands by; SIGTERM
 * makes the leader exit 0 without waiting out SHUTDOWN_TIMEOUT and release the Lease, and the
 * standby takes it over at its next retry, not after a lease duration.
 *
 * The timings are long and the bounds generous, so that a loaded machine cannot break them: a
 * lease of a minute (which a slow API call cannot outlast), and each bound a fraction of what the
 * behaviour it rules out would take (waiting out SHUTDOWN_TIMEOUT, or the lease expiring).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { CLI_PATH } from '../support/cli.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { KUBE_WAIT_MS, freshPostgresDatabase, kubeConfig, kubeStand, motoUrl, randomName, type FreshDatabase } from '../support/stand.js';
import { until } from './helpers.js';

const LEASE_DURATION_MS = 60_000;
const RETRY_MS = 500;
const SHUTDOWN_TIMEOUT_MS = 10 * 60_000;
/** Generous for a loaded machine, and well under SHUTDOWN_TIMEOUT_MS and LEASE_DURATION_MS. */
const BOUND_MS = LEASE_DURATION_MS / 2;

let fake: HerokuFake;
let db: FreshDatabase;
let env: Record<string, string>;
const lease = randomName('serve-lease');
const children: ChildProcess[] = [];

beforeAll(async () => {
  const kube = await kubeStand();
  fake = await HerokuFake.start();
  db = await freshPostgresDatabase('serve_lease');
  env = {
    PATH: process.env.PATH ?? '',
    NODE_NO_WARNINGS: '1',
    PORT: '0', PUBLIC_PORT: '0',
    LOG_LEVEL: 'info',
    DATABASE_URL: db.url,
    FERNET_KEYS: SecretBox.generateKey(),
    HEROKU_API_TOKEN: fake.token,
    HEROKU_API_URL: fake.url,
    ADDON_SERVICES: 's3-bucket',
    AWS_ENDPOINT_URL: motoUrl(),
    AWS_REGION: 'us-east-1',
    KUBECONFIG: kube.kubeconfigPath,
    LEADER_ELECTION: 'kubernetes',
    LEASE_NAME: lease,
    LEASE_NAMESPACE: 'default',
    LEASE_DURATION: `${LEASE_DURATION_MS}ms`,
    LEASE_RENEW_DEADLINE: '40s',
    LEASE_RETRY_PERIOD: `${RETRY_MS}ms`,
    SHUTDOWN_TIMEOUT: `${SHUTDOWN_TIMEOUT_MS}ms`,
  };
}, KUBE_WAIT_MS);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await fake?.stop();
  await db?.drop();
});

function serve(name: string) {
  const child = spawn(process.execPath, [CLI_PATH, 'serve'], { env: { ...env, POD_NAME: name }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let log = '';
  child.stderr!.on('data', (chunk) => (log += chunk));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: Date.now() })));
  return { child, exited, log: () => log };
}

async function holder(): Promise<string | undefined> {
  const api = kubeConfig().makeApiClient(CoordinationV1Api);
  try {
    return (await api.readNamespacedLease({ name: lease, namespace: 'default' })).spec?.holderIdentity ?? '';
  } catch {
    return undefined; // not created yet
  }
}

it('one replica holds the Lease; on SIGTERM it exits 0 and releases it, and the standby takes over within about a retry period', async () => {
  const a = serve('replica-a');
  await until('replica-a to hold the Lease', async () => ((await holder()) === 'replica-a' ? true : undefined), 60_000);
  const b = serve('replica-b');
  await until('replica-b to start', () => (b.log().includes('"reason":"serving"') ? true : undefined), 60_000);
  // The standby keeps trying and does not lead while the Lease is held.
  await new Promise((r) => setTimeout(r, 4 * RETRY_MS));
  expect(await holder()).toBe('replica-a');
  expect(b.log()).not.toContain('now leading');

  const signalledAt = Date.now();
  a.child.kill('SIGTERM');
  const { code, at } = await a.exited;
  expect(code).toBe(0);
  // No pass in flight: it did not wait out SHUTDOWN_TIMEOUT (ten minutes).
  expect(at - signalledAt).toBeLessThan(BOUND_MS);
  expect(a.log()).not.toContain('"reason":"pass-abandoned"');
  expect(a.log()).toContain('"reason":"stopped-leading"');
  expect(a.log()).toContain('"reason":"lease-released"');

  // Released, so the standby need not wait out the lease duration from a's last renewal: it takes
  // over at its next retry, long before the minute the lease would have lasted.
  await until('replica-b to hold the Lease', async () => ((await holder()) === 'replica-b' ? true : undefined), BOUND_MS);
  const handedOverIn = Date.now() - at;
  expect(handedOverIn).toBeLessThan(BOUND_MS);
  await until('replica-b to say it leads', () => (b.log().includes('now leading') ? true : undefined), BOUND_MS);
  b.child.kill('SIGTERM');
  expect((await b.exited).code).toBe(0);
}, KUBE_WAIT_MS + 120_000);
