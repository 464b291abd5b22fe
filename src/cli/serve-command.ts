/** `serve`: the reconcile loop on the cron schedule, with the HTTP server beside it. */
import cron from 'node-cron';
import { loadConfig, need } from '../config/config.js';
import { adminApi } from '../http/admin-api/admin-api.js';
import type { HttpServer } from '../http/listen.js';
import { apiTokenAuthenticator, FailureCounter } from '../http/authentication.js';
import { adminConsole } from '../http/console/console.js';
import { startPrivateListener, type PrivateListenerOptions } from '../http/private-listener.js';
import { startPublicListener, type PublicListenerOptions } from '../http/public-listener.js';
import { createFastLane } from '../fast-lane/fast-lane.js';
import { createLeaderElector } from '../leader/create-leader-elector.js';
import { failedPassRecord, passRecord, publishPass } from '../metrics/pass-outcome.js';
import { oldLinkKeys } from '../links/link-key-age.js';
import { appResolverFor, changeEventLane, createRuntime, linkingFor } from '../runtime.js';
import { errorMessage, UserError } from '../util/errors.js';
import { createLogger } from '../util/log.js';
import { ChangeEventsEvent, HerokuEvent, LeaderEvent, PassEvent, ServeEvent } from '../reasons.js';

export async function serveCommand(): Promise<void> {
  // Listening for SIGTERM/SIGINT before anything else: as PID 1 of a container, a signal that
  // arrives while no handler is installed is dropped by the kernel, and a pod stopped during
  // start-up (election, migrations) would then hang until it is killed.
  let stopRequested: NodeJS.Signals | null = null;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      stopRequested = signal;
      resolve(signal);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  // Safety invariant 7: only the elected leader mutates; it checks before every add-on's batch.
  const elector = createLeaderElector(config.leaderElection, { databaseUrl: config.databaseUrl, logger });
  let draining = false;
  const runtime = await createRuntime(config, logger, { mayMutate: () => !draining && elector.isLeader() });
  let lastPassAt: Date | null = null;
  let running: Promise<void> | null = null;
  // Webhooks and provisioning requests: one add-on reconciled at once, by the leader only.
  const lane = createFastLane(runtime, () => !draining && elector.isLeader());
  // AWS change events (issue 17): each add-on an event names goes to the same queue, with a deep check.
  const events = changeEventLane(runtime, (addonId, hint) => lane.offerChange(addonId, hint), () => !draining && elector.isLeader());
  // Heroku requests the last full pass sent: what the next one is expected to cost.
  let lastPassCost = 1;
  let deferring = false;

  // Named again only when the set changes: a warning every minute would drown everything else.
  let oldLinkKeysSeen = '';
  const warnOfOldLinkKeys = async () => {
    // Only a warning: a store that cannot be read here is the next pass's to report.
    const links = await runtime.store.links.list().catch(() => null);
    if (!links) return;
    const old = oldLinkKeys(links, new Date(), config.keyMaxAgeMs);
    const seen = old.map((k) => `${k.teamName}:${k.accessKeyId}`).join(',');
    if (seen !== oldLinkKeysSeen) for (const k of old) logger.warn({ reason: PassEvent.LinkKeyPastMaxAge, team: k.teamName, accessKeyId: k.accessKeyId, ageDays: k.ageDays }, k.message);
    oldLinkKeysSeen = seen;
  };

  const pass = async () => {
    if (running) return; // one pass at a time; a slow pass makes the next tick skip
    if (draining || stopRequested !== null) return; // shutting down: no new pass
    running = (async () => {
      const startedAt = new Date();
      try {
        if (!elector.isLeader()) return; // a standby spends no Heroku or AWS budget
        // With no team linked there is nothing to read, so a fresh install starts without the
        // Heroku settings; once a team is linked they are required.
        const linked = (await runtime.store.links.list()).length;
        if (linked === 0) {
          if (lastPassAt === null) logger.info({ reason: PassEvent.NoLinks }, 'No team is linked yet: link one with `heroku-s3-controller link --team NAME ...`.');
          return;
        }
        need(config, 'HEROKU_API_TOKEN', 'ADDON_SERVICES');
        // The Heroku request budget: a full pass waits while the account's tokens are under the
        // floor or this controller's hourly share has no room for it; the next tick asks again.
        // Waiting on purpose is not being stuck, so it counts for /readyz.
        const budget = runtime.heroku.budget;
        const deferral = budget?.shouldDeferResync(lastPassCost);
        if (deferral?.defer) {
          if (!deferring) logger.warn({ reason: deferral.code, retryInMs: deferral.retryInMs }, deferral.reason);
          deferring = true;
          return;
        }
        if (deferring) logger.info({ reason: HerokuEvent.BudgetRecovered }, 'the Heroku request budget has recovered: full passes resume');
        deferring = false;
        const spentBefore = budget?.snapshot().spentLastHour ?? 0;
        const result = await runtime.controller.reconcileOnce();
        if (budget) lastPassCost = Math.max(1, budget.snapshot().spentLastHour - spentBefore);
        runtime.changeEvents.setLinkedAccounts(result.accounts.map((a) => a.accountId));
        // Leadership lost during the pass: its figures are the new leader's to publish now.
        if (elector.isLeader()) publishPass(runtime.metrics, runtime.reports, result, new Date(), config.keyMaxAgeMs);
        else runtime.metrics.recordPass(passRecord(result));
        await lane.afterPass(result);
        await warnOfOldLinkKeys();
        const e = result.execution;
        logger.info(
          { reason: PassEvent.PassFinished, durationMs: result.durationMs, actions: result.actions.length, applied: e?.applied ?? 0, failed: e?.failed ?? 0, blocked: e?.blocked ?? 0 },
          'reconcile pass finished',
        );
      } catch (err) {
        runtime.metrics.recordPass(failedPassRecord(startedAt));
        logger.error({ reason: PassEvent.PassFailed }, `reconcile pass failed: ${errorMessage(err)}`);
      } finally {
        lastPassAt = new Date();
        running = null;
      }
    })();
    await running;
  };

  const onError = (err: unknown, route: string) => logger.error({ reason: ServeEvent.RequestFailed, route }, `request to ${route} failed: ${errorMessage(err)}`);
  const linking = linkingFor(config, runtime.heroku);
  const signIn = config.console.herokuOAuth;
  // Failed token checks and sign-ins, per client: shared by the API and the console.
  const failures = new FailureCounter({ perMinute: 20 });
  const privateOptions: PrivateListenerOptions = {
    health: { lastPassAt: () => lastPassAt, maxPassAgeMs: 10 * 60_000, standby: () => !elector.isLeader() },
    metrics: runtime.metrics,
    // The latest pass's report, with each account's change-event path and the drifts events found since.
    drift: () => runtime.reports.latest && { ...runtime.reports.latest, changeEvents: runtime.changeEvents.report(), foundByEvents: lane.foundByEvents() },
    authenticator: apiTokenAuthenticator(runtime.store.apiTokens),
    metricsRequireToken: config.http.metricsRequireToken,
    failures,
    plugins: [
      adminApi({
        store: runtime.store,
        reports: runtime.reports,
        linking,
        keyMaxAgeMs: config.keyMaxAgeMs,
        resolveApp: appResolverFor(config, runtime.heroku),
        rotationTiming: config.rotation,
      }),
      adminConsole({
        store: runtime.store,
        reports: runtime.reports,
        linking,
        herokuSignIn: signIn && config.console.url ? { ...signIn, apiUrl: config.herokuApiUrl, redirectUri: `${config.console.url}/auth/heroku/callback` } : null,
        cookieKeys: runtime.store.box.derivedKeys('console cookies'),
        externalIdKey: runtime.store.box.derivedKeys('role external ids')[0]!,
        sessionTtlMs: config.console.sessionTtlMs,
        keyMaxAgeMs: config.keyMaxAgeMs,
        failures,
      }),
    ],
    // Nothing proxies the private listener: believing X-Forwarded-For there would let any pod that
    // reaches it choose the address its failed sign-ins are counted against.
    onError,
  };
  const publicOptions: PublicListenerOptions = { routes: lane.routes, requestsPerMinute: config.http.publicRequestsPerMinute, trustProxyHops: config.http.trustProxyHops, onError };
  const [privateServer, publicServer] = await startListeners(
    () => startPrivateListener(config.port, privateOptions),
    () => startPublicListener(config.publicPort, publicOptions),
  ).catch(async (err: unknown) => {
    // A port taken (or refused) must end the process, not leave it looking healthy and idle.
    await runtime.close().catch(() => undefined);
    throw new UserError(`cannot listen: ${errorMessage(err)}. Free the port or choose another (PORT, PUBLIC_PORT)`);
  });
  logger.info(
    {
      reason: ServeEvent.Serving,
      url: privateServer.url,
      publicUrl: publicServer.url,
      schedule: config.resyncSchedule,
      instanceId: config.instanceId,
      routes: lane.routes.map((r) => r.prefix),
    },
    `serving the admin API, metrics and health on ${privateServer.url}, and Heroku's webhooks and Partner API on ${publicServer.url}`,
  );
  runtime.metrics.setLeader(false);
  elector.onChange((leader) => {
    runtime.metrics.setLeader(leader); // losing it clears the per-pass gauges
    if (!leader) {
      runtime.reports.latest = null;
      runtime.reports.pass = null;
    }
    logger.info({ reason: leader ? LeaderEvent.Elected : LeaderEvent.Lost, identity: config.leaderElection.identity }, leader ? 'now leading' : 'no longer leading');
    if (leader) void pass();
  });
  // The queues set up are known before the first pass, which leadership may start (their accounts'
  // windows change from now: spread, not every overdue check at once after a restart).
  await events.refresh().catch((err: unknown) => logger.warn({ reason: ChangeEventsEvent.SourcesUnread }, `cannot read the change-event queues set up: ${errorMessage(err)}`));
  await elector.start();
  lane.start();
  events.start();
  // Expired console sessions are refused already; this only keeps their rows from piling up, on
  // every replica and whether or not passes run.
  const sweeper = setInterval(() => void runtime.store.sessions.sweep(new Date()).catch(() => 0), 10 * 60_000);
  sweeper.unref();
  const task = cron.schedule(config.resyncSchedule, pass, { noOverlap: true });
  void pass();

  // Graceful shutdown (STYLE.md #11): the first SIGTERM/SIGINT stops taking work and gives the
  // pass in flight SHUTDOWN_TIMEOUT to finish; a second one exits at once.
  const signal = await stopSignal;
  logger.info({ reason: ServeEvent.Shutdown, signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down');
  const now = (second: NodeJS.Signals) => {
    logger.warn({ reason: ServeEvent.ShutdownForced, signal: second }, `${second} again: exiting at once, without releasing the lease (it expires)`);
    // 128 + the signal's number, as a shell reports a process killed by it: 130 SIGINT, 143 SIGTERM.
    process.exit(second === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGTERM', () => now('SIGTERM'));
  process.once('SIGINT', () => now('SIGINT'));

  // From here mayMutate() is false: the executor checks it before every action, so a pass in
  // flight makes no further AWS or Heroku change, whatever it is waiting on.
  draining = true;
  clearInterval(sweeper);
  // Long polls are aborted; a call that does not answer is not waited for past the shutdown timeout.
  await Promise.race([events.stop(), new Promise((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref())]);
  await task.stop();
  const inFlight = running as Promise<void> | null;
  const keyed = lane.shutdown(config.shutdownTimeoutMs);
  const finished = (inFlight === null || (await settlesWithin(inFlight, config.shutdownTimeoutMs))) && (await keyed);
  if (!finished) {
    logger.warn(
      { reason: PassEvent.PassAbandoned, timeoutMs: config.shutdownTimeoutMs },
      `the pass in flight did not finish within SHUTDOWN_TIMEOUT (${config.shutdownTimeoutMs / 1000}s): abandoning it; no further action starts, the next leader re-reads and converges`,
    );
  }
  // Released even after abandoning a pass: draining already stopped every further action, the
  // process ends right after (taking any call still waiting with it), and each action is
  // idempotent with its intent journaled, so the next leader re-reads and converges.
  await elector.stop({ release: true });
  await Promise.all([privateServer.close(), publicServer.close()]);
  if (!finished) {
    // The abandoned pass still holds sockets (a hung Heroku or AWS call) and the store; closing
    // the store under it would only turn its wait into errors. Exit now, successfully: the pod
    // stopped as asked and handed its lease over.
    process.exit(0);
  }
  await runtime.close();
}

/** Starts both listeners; if the second fails, the first is closed again before the error goes on. */
async function startListeners(first: () => Promise<HttpServer>, second: () => Promise<HttpServer>): Promise<[HttpServer, HttpServer]> {
  const a = await first();
  try {
    return [a, await second()];
  } catch (err) {
    await a.close().catch(() => undefined);
    throw err;
  }
}

/** True when `promise` settles within `ms` (a rejection counts as settled), false otherwise. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
