/**
 * `serve` on a fresh machine: no configuration at all, the embedded database in a data folder,
 * health endpoints up, a clean exit on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI_PATH } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hs3-serve-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
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

it('serves /healthz and /readyz with no configuration, and exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, [CLI_PATH, 'serve'], {
    env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', DATA_DIR: dir, PORT: '0', PUBLIC_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await until('the serving log line', () => /"url":"(http:\/\/[^"]+)"/.exec(stderr)?.[1]);
    const publicUrl = /"publicUrl":"(http:\/\/[^"]+)"/.exec(stderr)?.[1];
    // The public listener answers only Heroku's routes (none mounted without their settings).
    for (const path of ['/healthz', '/metrics', '/drift', '/api/v1/links', '/login']) expect((await fetch(`${publicUrl}${path}`)).status, path).toBe(404);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    await until('readiness', async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined));
    // Anonymous: only health and readiness (and metrics) answer on the private listener.
    expect((await fetch(`${url}/nope`)).status).toBe(401);
    expect((await fetch(`${url}/drift`)).status).toBe(401);
    expect(stderr).toContain('No team is linked yet');
    expect(stderr).toContain('generated-fernet-key');
    const key = await stat(path.join(dir, 'fernet.key'));
    expect(key.mode & 0o777).toBe(0o600);
    for (const line of stderr.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
});

it('exits with one line, code 2, when a port is taken, rather than serve half', async () => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
  const taken = (holder.address() as net.AddressInfo).port;
  try {
    const child = spawn(process.execPath, [CLI_PATH, 'serve'], {
      env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', DATA_DIR: path.join(dir, 'taken'), PORT: '0', PUBLIC_PORT: String(taken), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    // No signal is sent: the process must end by itself.
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toMatch(new RegExp(`heroku-s3-controller: cannot listen: .*EADDRINUSE.*${taken}.*Free the port or choose another \\(PORT, PUBLIC_PORT\\)`));
  } finally {
    holder.close();
  }
});
