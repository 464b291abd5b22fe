/**
 * Starts a moto server of its own for a benchmark (the pinned one in .venv/moto, installed by
 * scripts/stand/install-moto.sh when missing), on a free loopback port; stopped by `stop()` or
 * when the process exits. It is moto's own threaded server, run by moto_seed_server.py, which can
 * also clone one add-on's resources in bulk (`clone`), for the large steady-state fleets.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, openSync } from 'node:fs';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CloneItem {
  bucket: string;
  user: string;
  /** Applied to every tag value and policy document of the template. */
  replace: [string, string][];
}

export interface Moto {
  url: string;
  /** Copies the template bucket (settings, policy, tags) and user (path, tags, inline policies) once per item, each user with a new access key. */
  clone(account: string, region: string, template: { bucket: string; user: string }, items: CloneItem[]): Promise<{ accessKeyId: string; secretAccessKey: string }[]>;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  const venv = process.env.MOTO_VENV ?? path.join(ROOT, '.venv', 'moto');
  const bin = path.join(venv, 'bin', 'moto_server');
  const python = path.join(venv, 'bin', 'python');
  if (!existsSync(bin)) {
    const installed = spawnSync('bash', [path.join(ROOT, 'scripts/stand/install-moto.sh')], { stdio: 'inherit' });
    if (installed.status !== 0) throw new Error('bench: cannot install moto (scripts/stand/install-moto.sh failed; its messages are above)');
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = path.join(mkdtempSync(path.join(tmpdir(), 'hsc-bench-moto-')), 'moto.log');
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
  delete env.MOTO_ACCOUNT_ID;
  delete env.INITIAL_NO_AUTH_ACTION_COUNT;
  const err = openSync(logFile, 'a');
  const script = path.join(ROOT, 'bench/support/moto_seed_server.py');
  const child = spawn(python, [script, String(port)], { env, stdio: ['pipe', 'pipe', err] }) as unknown as ChildProcessWithoutNullStreams;
  const answers = new Map<number, (answer: Record<string, unknown>) => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const answer = JSON.parse(line) as Record<string, unknown>;
    if (typeof answer.id === 'number') answers.get(answer.id)?.(answer);
  });
  let nextId = 1;
  const kill = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.once('exit', kill);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bench: moto exited during startup; see ${logFile}`);
    try {
      const res = await fetch(`${url}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`bench: moto did not answer on ${url} within 60 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async clone(account, region, template, items) {
      const id = nextId++;
      const answer = await new Promise<Record<string, unknown>>((resolve) => {
        answers.set(id, resolve);
        child.stdin.write(`${JSON.stringify({ id, op: 'clone', account, region, template, items })}\n`);
      });
      answers.delete(id);
      if (!answer.ok) throw new Error(`bench: moto clone failed: ${String(answer.error)}`);
      return answer.keys as { accessKeyId: string; secretAccessKey: string }[];
    },
    async stop() {
      process.removeListener('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.end();
      child.kill('SIGTERM');
      await exited;
    },
  };
}
