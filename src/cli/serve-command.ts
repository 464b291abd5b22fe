/** `serve`: the reconcile loop on the cron schedule, with the HTTP server beside it. */
import cron from 'node-cron';
import { loadConfig, need } from '../config/config.js';
import { startHttpServer } from '../http/server.js';
import { createLeaderElector } from '../leader/create-leader-elector.js';
import { failedPassRecord, publishPass } from '../metrics/pass-outcome.js';
import { createRuntime } from '../runtime.js';
import { errorMessage } from '../util/errors.js';
import { createLogger } from '../util/log.js';

export async function serveCommand(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  // Safety invariant 7: only the elected leader mutates; it checks before every add-on's batch.
  const elector = createLeaderElector(config.leaderElection, { databaseUrl: config.databaseUrl, logger });
  let draining = false;
  const runtime = await createRuntime(config, logger, { mayMutate: () => !draining && elector.isLeader() });
  let lastPassAt: Date | null = null;
  let running: Promise<void> | null = null;

  const pass = async () => {
    if (running) return; // one pass at a time; a slow pass makes the next tick skip
    running = (async () => {
      const startedAt = new Date();
      try {
        if (!elector.isLeader()) return; // a standby spends no Heroku or AWS budget
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
    health: { lastPassAt: () => lastPassAt, maxPassAgeMs: 10 * 60_000, standby: () => !elector.isLeader() },
    metrics: runtime.metrics,
    drift: () => runtime.reports.latest,
  });
  logger.info({ reason: 'serving', url: server.url, schedule: config.resyncSchedule, instanceId: config.instanceId }, `serving on ${server.url}`);
  elector.onChange((leader) => {
    logger.info({ reason: leader ? 'leader-elected' : 'leader-lost', identity: config.leaderElection.identity }, leader ? 'now leading' : 'no longer leading');
    if (leader) void pass();
  });
  await elector.start();
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
  draining = true;
  await task.stop();
  await running;
  await elector.stop({ release: true });
  await server.close();
  await runtime.close();
}
