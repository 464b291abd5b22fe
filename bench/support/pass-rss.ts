/**
 * Runs ONE dry-run pass of the controller in a process of its own and prints its memory as JSON:
 * the controller's RSS without the benchmark's Heroku fake, moto clients and bookkeeping beside it.
 * Env: the controller's configuration (as the benchmark world built it), BENCH_CLOCK_OFFSET_MS
 * (the world's clock), BENCH_BASE_KEY / BENCH_BASE_SECRET (the controller's own credentials).
 */
import { loadConfig } from '../../src/config/config.js';
import { createRuntime } from '../../src/runtime.js';
import { silentLogger } from '../../src/util/log.js';

const offset = Number(process.env.BENCH_CLOCK_OFFSET_MS ?? 0);
const runtime = await createRuntime(loadConfig(process.env), silentLogger(), {
  baseCredentials: { accessKeyId: process.env.BENCH_BASE_KEY ?? 'controller', secretAccessKey: process.env.BENCH_BASE_SECRET ?? 'controller' },
  clock: () => new Date(Date.now() + offset),
});
const baseline = process.memoryUsage().rss;
const pass = await runtime.controller.reconcileOnce({ dryRun: true });
const rss = process.memoryUsage().rss;
const heap = process.memoryUsage().heapUsed;
await runtime.close();
const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
process.stdout.write(
  `${JSON.stringify({
    rssBeforePassMb: mb(baseline),
    rssAfterPassMb: mb(rss),
    maxRssMb: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
    heapUsedMb: mb(heap),
    managed: pass.drift.summary.managed,
    actions: pass.actions.length,
  })}\n`,
);
