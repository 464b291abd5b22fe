/** Shared by the deploy tests: run a command, and make a pinned tool available through its script. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHART = path.join(ROOT, 'deploy/helm/heroku-s3-controller');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Runs scripts/stand/<script> (which installs the tool on first use) and returns the path it
 * prints on its last line; fails with the script's own explanation otherwise.
 */
export async function ensureTool(script: string, what: string): Promise<string> {
  const result = await run('bash', [path.join(ROOT, 'scripts/stand', script)]);
  if (result.code !== 0) {
    throw new Error(`${what} is needed and could not be made available: scripts/stand/${script} exited ${result.code}.\n${result.stderr.trim()}`);
  }
  return result.stdout.trim().split('\n').pop() ?? '';
}
