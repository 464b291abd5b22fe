/**
 * Runs every benchmark in bench/ (each top-level `*.ts` but this one), one after the other, each in
 * its own process, and prints how long each took. `npm run bench`; `npm run bench -- plan heroku-calls`
 * runs only those.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './support/moto.js';

const only = process.argv.slice(2);
const benches = readdirSync(path.join(ROOT, 'bench'))
  .filter((f) => f.endsWith('.ts') && f !== 'run-all.ts' && f !== 'compare.ts')
  .map((f) => f.replace(/\.ts$/, ''))
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();
const started = Date.now();
const times: { bench: string; seconds: number; status: string }[] = [];
for (const bench of benches) {
  const t = Date.now();
  console.log(`\n===== bench/${bench}.ts =====`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', `${bench}.ts`)], { cwd: ROOT, stdio: 'inherit' });
  times.push({ bench, seconds: Math.round((Date.now() - t) / 100) / 10, status: run.status === 0 ? 'ok' : `failed (${run.status ?? run.signal})` });
}
console.log('\n===== summary =====');
for (const t of times) console.log(`${t.bench.padEnd(24)} ${String(t.seconds).padStart(7)} s  ${t.status}`);
console.log(`${'total'.padEnd(24)} ${String(Math.round((Date.now() - started) / 100) / 10).padStart(7)} s`);
process.exitCode = times.every((t) => t.status === 'ok') ? 0 : 1;
