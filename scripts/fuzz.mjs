#!/usr/bin/env node
/**
 * `npm run fuzz -- [--seed S] [--runs N] [--steps N] [--path P] [--minutes M]`: the generated
 * histories of test/lifecycle/histories.test.ts for longer than CI runs them. Without --seed, a new
 * seed (printed); with --seed and --path, the one history that failed, shrunk, replayed. It starts
 * the same test stand as `npm test` (moto, PostgreSQL), without a kube-apiserver.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    runs: { type: 'string', default: '50' },
    steps: { type: 'string', default: '20' },
    path: { type: 'string' },
    minutes: { type: 'string', default: '120' },
  },
});
const seed = values.seed ?? String(Date.now() % 2_147_483_647);
for (const [name, value] of Object.entries({ seed, runs: values.runs, steps: values.steps, minutes: values.minutes })) {
  if (!/^\d+$/.test(value)) {
    process.stderr.write(`fuzz: --${name} must be a whole number, not "${value}"\n`);
    process.exit(2);
  }
}
process.stdout.write(`fuzz: seed ${seed}, up to ${values.runs} histories of up to ${values.steps} steps, ${values.minutes} min at most\n`);
const child = spawn('npx', ['vitest', 'run', 'test/lifecycle/histories.test.ts', '-t', 'rotating seed', '--silent=false'], {
  stdio: 'inherit',
  env: {
    ...process.env,
    STAND_KUBE: '0',
    FUZZ_SEED: seed,
    FUZZ_RUNS: values.runs,
    FUZZ_STEPS: values.steps,
    FUZZ_TIME_LIMIT_MS: String(Number(values.minutes) * 60_000),
    ...(values.path ? { FUZZ_PATH: values.path } : {}),
  },
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
