/** `serve`: the reconcile loop on the cron schedule, with the HTTP server beside it. */
import cron from 'node-cron';
import { loadConfig, need } from '../config/config.js';
import { startHttpServer } from '../http/server.js';
import { failedPassRecord, publishPass } from '../metrics/pass-outcome.js';
import { createRuntime } from '../runtime.js';
import { errorMessage } from '../util/errors.js';
import { createLogger } from '../util/log.js';

export async function serveCommand(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const runtime = await createRuntime(config, logger);
  let lastPassAt: Date | null = null;
  let running: Promise<void> | null = null;

  const pass = async () => {
    if (running) return; // one pass at a time; a slow pass makes the next tick skip
    running = (async () => {
      const startedAt = new Date();
      try {
        // With no team linked there is nothing to read, so a fresh install starts without the
        // Heroku settings; once a team is linked they are required.
        const linked = (await runtime.store.links.list()).length;
        if (linked === 0) {
          if (lastPassAt === null) logger.info({ reason: 'no-links' }, 'No team is linked yet: link one with `heroku-s3-controller link --team NAME ...`.');
          return;
        }
        need(config, 'HEROKU_API_TOKEN', 'ADDON_SERVICES');
        const result = await runtime.controller.reconcileOnce();
        publishPass(runtime.metrics, runtime.reports, result);
        const e = result.execution;
        logger.info(
          { reason: 'pass-finished', durationMs: result.durationMs, actions: result.actions.length, applied: e?.applied ?? 0, failed: e?.failed ?? 0, blocked: e?.blocked ?? 0 },
          'reconcile pass finished',
        );
      } catch (err) {
        runtime.metrics.recordPass(failedPassRecord(startedAt));
        logger.error({ reason: 'pass-failed' }, `reconcile pass failed: ${errorMessage(err)}`);
      } finally {
        lastPassAt = new Date();
        running = null;
      }
    })();
    await running;
  };

  const server = await startHttpServer(config.port, {
    health: { lastPassAt: () => lastPassAt, maxPassAgeMs: 10 * 60_000 },
    metrics: runtime.metrics,
    drift: () => runtime.reports.latest,
  });
  logger.info({ reason: 'serving', url: server.url, schedule: config.resyncSchedule, instanceId: config.instanceId }, `serving on ${server.url}`);
  const task = cron.schedule(config.resyncSchedule, pass, { noOverlap: true });
  void pass();

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ reason: 'shutdown', signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await task.stop();
  await running;
  await server.close();
  await runtime.close();
}
