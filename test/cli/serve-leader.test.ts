/**
 * Safety invariant 7 through the binary: two `serve` processes on one PostgreSQL database, one
 * leads and the other stands by (ready, running no pass); when the leader stops, the other leads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { CLI_PATH } from '../support/cli.js';
import { freshPostgresDatabase, type FreshDatabase } from '../support/stand.js';

let db: FreshDatabase;
const children: ChildProcess[] = [];
beforeAll(async () => {
  db = await freshPostgresDatabase('leader');
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await db.drop();
});

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function serve(name: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI_PATH, 'serve'], {
    env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', PORT: '0', PUBLIC_PORT: '0', LOG_LEVEL: 'info', POD_NAME: name, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stderr!.on('data', (chunk) => (log += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, log: () => log, url: () => until(`${name} to serve`, () => /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1]) };
}

const readiness = async (url: string) => ((await (await fetch(`${url}/readyz`)).json()) as { status: string }).status;

it('one of two replicas leads, the other stands by ready, and takes over when the leader stops', async () => {
  const env = {
    DATABASE_URL: db.url,
    FERNET_KEYS: SecretBox.generateKey(),
    LEADER_ELECTION: 'postgres',
    // A renew deadline (also the bound on each lock query) no loaded machine comes near: the leader
    // must not lose the lock to a slow check before it is stopped. The take-over after the stop
    // comes from the explicit unlock and b's next retry, whatever these say.
    LEASE_DURATION: '120s',
    LEASE_RENEW_DEADLINE: '90s',
    LEASE_RETRY_PERIOD: '500ms',
  };
  const a = serve('replica-a', env);
  const urlA = await a.url();
  await until('replica-a to lead', () => (a.log().includes('now leading') ? true : undefined));
  const b = serve('replica-b', env);
  const urlB = await b.url();
  expect(await until('replica-b to stand by', async () => ((await readiness(urlB)) === 'standby' ? true : undefined))).toBe(true);
  expect(await until('replica-a to be ready', async () => ((await readiness(urlA)) === 'ready' ? true : undefined))).toBe(true);
  expect(b.log()).not.toContain('now leading');

  a.child.kill('SIGTERM');
  expect(await a.exited).toBe(0);
  await until('replica-b to take over', () => (b.log().includes('now leading') ? true : undefined), 60_000);
  expect(await until('replica-b to be ready', async () => ((await readiness(urlB)) === 'ready' ? true : undefined))).toBe(true);
  b.child.kill('SIGTERM');
  expect(await b.exited).toBe(0);
}, 300_000);
