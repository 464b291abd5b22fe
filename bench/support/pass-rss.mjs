/**
 * Runs dry-run passes of the controller in a process of its own and prints, as JSON, each pass's
 * time and AWS calls by operation and the process's memory: the controller's RSS without the benchmark's Heroku fake, moto clients and bookkeeping beside
 * it. Plain JavaScript on the compiled `dist/`, run by plain `node` as the image runs the
 * controller (a TypeScript loader such as tsx adds about 50 MB of its own), with whatever V8 flags
 * the caller gives `node` (the chart's heap cap).
 * Env: the controller's configuration (as the benchmark world built it), BENCH_CLOCK_OFFSET_MS
 * (the world's clock), BENCH_BASE_KEY / BENCH_BASE_SECRET (the controller's own credentials),
 * BENCH_PASSES (default 2: the heap a long-running process settles at shows from the second pass).
 */
import { loadConfig } from '../../dist/config/config.js';
import { createRuntime } from '../../dist/runtime.js';
import { silentLogger } from '../../dist/util/log.js';
import { isMutation } from '../../dist/sinks/aws/api-calls.js';

const mb = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
const maxRssMb = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;

const offset = Number(process.env.BENCH_CLOCK_OFFSET_MS ?? 0);
const runtime = await createRuntime(loadConfig(process.env), silentLogger(), {
  baseCredentials: { accessKeyId: process.env.BENCH_BASE_KEY ?? 'controller', secretAccessKey: process.env.BENCH_BASE_SECRET ?? 'controller' },
  clock: () => new Date(Date.now() + offset),
});
const rssBeforePassMb = mb(process.memoryUsage().rss);
// AWS calls counted per operation as they happen (the recorder keeps none, as in serve).
let byOperation = {};
runtime.recorder.onCall((call) => (byOperation[call.operation] = (byOperation[call.operation] ?? 0) + 1));
const passes = [];
let last;
for (let i = 0; i < Number(process.env.BENCH_PASSES ?? 2); i++) {
  byOperation = {};
  const started = Date.now();
  last = await runtime.controller.reconcileOnce({ dryRun: true });
  const mutations = Object.entries(byOperation).filter(([operation]) => isMutation(operation)).reduce((sum, [, count]) => sum + count, 0);
  passes.push({ seconds: (Date.now() - started) / 1000, maxRssMb: maxRssMb(), rssAfterMb: mb(process.memoryUsage().rss), heapUsedMb: mb(process.memoryUsage().heapUsed), actions: last.actions.length, byOperation, mutations });
}
await runtime.close();
process.stdout.write(
  `${JSON.stringify({
    nodeOptions: process.execArgv.join(' '),
    heapLimitMb: mb((await import('node:v8')).getHeapStatistics().heap_size_limit),
    rssBeforePassMb,
    maxRssMb: maxRssMb(),
    passes,
    managed: last?.drift.summary.managed ?? 0,
    actions: passes.reduce((sum, p) => sum + p.actions, 0),
  })}\n`,
);
