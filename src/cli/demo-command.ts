/**
 * `demo`: the narrated sandbox of `npm run demo`. The sandbox is built from the project's test
 * stand (moto, the Heroku API fake), which lives in the source checkout with the development
 * dependencies, not in the published package or the image: from there it is started with tsx;
 * anywhere else this says how to get it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function demoCommand(args: string[]): Promise<number> {
  const entry = path.join(ROOT, 'demo/main.ts');
  const tsx = path.join(ROOT, 'node_modules/tsx/dist/cli.mjs');
  if (!existsSync(entry) || !existsSync(tsx)) {
    throw new UserError(
      'the demo runs from a checkout of the project with its development dependencies: ' +
        'git clone the repository, then `npm ci && npm run demo` (it needs Node.js and Python 3, no AWS account and no Heroku Team)',
    );
  }
  const child = spawn(process.execPath, [tsx, entry, ...args], { cwd: ROOT, stdio: 'inherit' });
  // Ctrl-C in a terminal reaches the demo directly (same process group); a SIGTERM sent to this
  // process is passed on, so the demo still stops everything it started.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGTERM', forward);
  process.on('SIGINT', () => {});
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGTERM', forward);
      resolve(code ?? (signal === 'SIGINT' ? 130 : 143));
    });
  });
}
