/**
 * Time from "Heroku asks" to "credentials visible at Heroku", over the fast path (issue 6), for
 * each add-on:
 *
 * - partner: the Heroku fake sends `POST /heroku/resources` (Basic auth, OAuth grant) → the
 *   controller answers 202, exchanges the grant, reconciles the key, and PATCHes
 *   `/addons/{id}/config` (CREDENTIAL_DELIVERY=addon-config) → the vars are on the app; the
 *   `actions/provision` call that follows is timed too;
 * - webhook: a signed `api:addon` create delivery (the published example payload, with the add-on
 *   id and delivery id replaced) → the key waits out FAST_PATH_COALESCE (default 1 s, so a burst of
 *   events for one add-on makes one reconcile), is reconciled, and the vars are PATCHed onto the
 *   app's config vars.
 *
 * Each path runs twice: paced (PER_RUN = 50 requests, one every PACE_MS, as developers create
 * add-ons; the headline figures) and as a burst (BURST = 20 requests at once, as a Review Apps or
 * CI fan-out does; they queue behind FAST_PATH_CONCURRENCY). Everything is in process except
 * moto (its own server, bench/support/moto.ts): Heroku is the in-process fake, the store embedded
 * PGlite. No full pass runs.
 *
 * Run: `npx tsx bench/provisioning-latency.ts` (under 2 minutes). Writes
 * bench/results/provisioning-latency.json.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createFastLane } from '../src/fast-lane/fast-lane.js';
import { startPublicListener } from '../src/http/public-listener.js';
import { WEBHOOK_PATH } from '../src/fast-lane/keyed-queue.js';
import { SIGNATURE_HEADER, signHerokuWebhook } from '../src/webhooks/heroku-webhooks.js';
import type { PartnerTarget } from '../test/support/heroku-fake/index.js';
import { ROOT, startMoto } from './support/moto.js';
import { machine, table, writeResult } from './support/report.js';
import { BenchWorld, SERVICE } from './support/world.js';

/** Add-ons per paced run (the headline figures: at least 50 per path). */
const PER_RUN = Number(process.env.BENCH_ADDONS ?? 50);
/** Add-ons per burst run (an extra: how a fan-out queues). */
const BURST = Number(process.env.BENCH_BURST ?? 20);
/**
 * Two add-ons a second: a busy team. On a quiet 2-CPU machine one keyed reconcile on moto takes
 * 0.3-1 s; on a loaded one moto (one Python process) becomes the bottleneck and requests queue,
 * which the `reconcile` column (time inside `reconcileAddon`) separates from the waiting.
 */
const PACE_MS = 500;
const TIMEOUT_MS = 60_000;
const MANIFEST_ID = 's3-bucket';
const PASSWORD = 'bench-manifest-password-3f0c9d1a';
const WEBHOOK_SECRET = 'bench-webhook-secret-9a1e4c77b2';
/** The manifest's config var prefix (ADDON_CONFIG_VARS_PREFIX default for ADDON_SERVICES=s3-bucket). */
const PREFIX = 'S3_BUCKET';

interface Sample {
  addonId: string;
  /** Request sent → credentials visible on the app at Heroku. */
  credentialsMs: number;
  /** Request sent → `actions/provision` received by Heroku (partner path only). */
  provisionedMs: number | null;
}

interface Run {
  path: 'partner' | 'webhook';
  arrival: 'paced' | 'burst';
  samples: Sample[];
  wallMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(values: number[]): { p50: number; p95: number; max: number; min: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0]!, p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted[sorted.length - 1]! };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const moto = await startMoto();
  const world = await BenchWorld.create({
    endpoint: moto.url,
    env: {
      ADDON_MANIFEST_ID: MANIFEST_ID,
      ADDON_MANIFEST_PASSWORD: PASSWORD,
      CREDENTIAL_DELIVERY: 'addon-config',
      WEBHOOK_SECRETS: WEBHOOK_SECRET,
    },
    envFor: (fake) => ({ ADDON_CLIENT_SECRET: fake.partner.clientSecret, HEROKU_OAUTH_URL: fake.url }),
  }).catch(async (err) => {
    await moto.stop();
    throw err;
  });
  const { fake, runtime } = world;

  // Time spent inside the keyed reconcile itself, per add-on (the rest is waiting: coalescing, queue, HTTP).
  const reconcileMs = new Map<string, number>();
  const reconcileAddon = runtime.controller.reconcileAddon.bind(runtime.controller);
  runtime.controller.reconcileAddon = async (addonId, options) => {
    const result = await reconcileAddon(addonId, options);
    reconcileMs.set(addonId, (reconcileMs.get(addonId) ?? 0) + result.durationMs);
    return result;
  };
  const lane = createFastLane(runtime, () => true);
  const server = await startPublicListener(
    0,
    { routes: lane.routes, requestsPerMinute: Number.MAX_SAFE_INTEGER },
    '127.0.0.1',
  );
  lane.start();
  const target: PartnerTarget = { url: server.url, manifestId: MANIFEST_ID, password: PASSWORD };
  const example = readFileSync(path.join(ROOT, '../shared/heroku/webhook-events/api-addon-create.json'), 'utf8');
  const team = world.teams[0]!;
  let appSeq = 0;

  /** A new app of the linked team with a new add-on on it, as Heroku has it before the provider answers. */
  function newAddon(state: 'provisioning' | 'provisioned') {
    const app = fake.addApp({ name: `bench-app-${appSeq++}`, team: team.name, region: 'us' });
    const addon = fake.addAddon({ app: app.name, service: SERVICE, attachmentName: PREFIX, state });
    return { appId: app.id, addonId: addon.id };
  }

  async function sendWebhook(addonId: string): Promise<void> {
    const event = JSON.parse(example) as { id: string; data: { id: string }; webhook_metadata: { delivery: { id: string } } };
    event.id = randomUUID();
    event.data.id = addonId;
    event.webhook_metadata.delivery.id = randomUUID();
    const body = JSON.stringify(event);
    const res = await fetch(`${server.url}${WEBHOOK_PATH}`, { method: 'POST', headers: { [SIGNATURE_HEADER]: signHerokuWebhook(body, WEBHOOK_SECRET), 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    if (res.status !== 202) throw new Error(`bench: webhook answered ${res.status}`);
  }

  async function sendProvision(addonId: string): Promise<void> {
    const answer = await fake.partner.provision(target, addonId);
    if (answer.status !== 202) throw new Error(`bench: provisioning request answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  }

  async function run(kind: Run['path'], arrival: Run['arrival']): Promise<Run> {
    const count = arrival === 'paced' ? PER_RUN : BURST;
    const addons = Array.from({ length: count }, () => newAddon(kind === 'partner' ? 'provisioning' : 'provisioned'));
    const sentAt = new Map<string, number>();
    const samples = new Map<string, Sample>();
    const started = Date.now();
    // One poller watches every add-on's app at the fake (in process: a map read).
    const watcher = (async () => {
      while (samples.size < addons.length || (kind === 'partner' && [...samples.values()].some((s) => s.provisionedMs === null))) {
        const now = Date.now();
        for (const a of addons) {
          const sent = sentAt.get(a.addonId);
          if (sent === undefined) continue;
          let sample = samples.get(a.addonId);
          if (!sample && fake.configVars(a.appId)[`${PREFIX}_AWS_SECRET_ACCESS_KEY`]) {
            sample = { addonId: a.addonId, credentialsMs: now - sent, provisionedMs: null };
            samples.set(a.addonId, sample);
          }
          if (sample && kind === 'partner' && sample.provisionedMs === null && fake.addon(a.addonId).state === 'provisioned') sample.provisionedMs = now - sent;
        }
        if (now - started > TIMEOUT_MS + count * PACE_MS) throw new Error(`bench: ${kind}/${arrival}: ${samples.size}/${addons.length} add-ons got credentials within the time limit`);
        await sleep(5);
      }
    })();
    const sends: Promise<void>[] = [];
    for (const a of addons) {
      sentAt.set(a.addonId, Date.now());
      sends.push(kind === 'partner' ? sendProvision(a.addonId) : sendWebhook(a.addonId));
      if (arrival === 'paced') await sleep(PACE_MS);
    }
    await Promise.all(sends);
    await watcher;
    await lane.fastPath.idle();
    return { path: kind, arrival, samples: [...samples.values()], wallMs: Date.now() - started };
  }

  const runs: Run[] = [];
  try {
    // One throw-away add-on first, so connection set-up and AssumeRole are not in the figures.
    const warm = newAddon('provisioned');
    await sendWebhook(warm.addonId);
    const t0 = Date.now();
    while (!fake.configVars(warm.appId)[`${PREFIX}_AWS_SECRET_ACCESS_KEY`]) {
      if (Date.now() - t0 > TIMEOUT_MS) throw new Error('bench: the warm-up add-on got no credentials');
      await sleep(20);
    }
    for (const kind of ['partner', 'webhook'] as const) {
      for (const arrival of ['paced', 'burst'] as const) {
        runs.push(await run(kind, arrival));
        console.error(`bench: ${kind}/${arrival} done`);
      }
    }
    const partnerChecks = {
      addonConfigPatches: fake.partner.configPatches.length,
      provisionActions: fake.partner.actions.filter((a) => a.action === 'provision').length,
      deprovisionActions: fake.partner.actions.filter((a) => a.action === 'deprovision').length,
    };
    const m = machine();
    const rows = runs.map((r) => {
      const c = summary(r.samples.map((s) => s.credentialsMs));
      const p = r.path === 'partner' ? summary(r.samples.map((s) => s.provisionedMs ?? NaN)) : null;
      const rc = summary(r.samples.map((s) => reconcileMs.get(s.addonId) ?? NaN));
      return {
        path: r.path,
        arrival: r.arrival === 'paced' ? `paced, 1 per ${PACE_MS} ms` : `burst of ${r.samples.length}`,
        'add-ons': r.samples.length,
        'p50 ms': c.p50,
        'p95 ms': c.p95,
        'max ms': c.max,
        'min ms': c.min,
        'provisioned p50/p95 ms': p ? `${p.p50} / ${p.p95}` : '-',
        'reconcile p50/p95 ms': `${rc.p50} / ${rc.p95}`,
        'wall s': Math.round(r.wallMs / 100) / 10,
      };
    });
    table('request → credentials visible at Heroku (per add-on)', rows);
    console.log(`\nmachine: ${m.nproc} CPU (${m.cpuModel}), node ${m.node}, load ${m.loadAverage.join(' ')}`);
    console.log(`fast path: FAST_PATH_CONCURRENCY=${runtime.config.fastPath.concurrency}, FAST_PATH_COALESCE=${runtime.config.fastPath.coalesceMs} ms (webhook keys only); AWS: moto; Heroku: in-process fake`);
    console.log(`partner calls seen by Heroku: ${partnerChecks.addonConfigPatches} PATCH /addons/{id}/config, ${partnerChecks.provisionActions} actions/provision, ${partnerChecks.deprovisionActions} actions/deprovision`);
    const file = writeResult('provisioning-latency', {
      settings: {
        addonsPerPacedRun: PER_RUN,
        addonsPerBurst: BURST,
        pacedIntervalMs: PACE_MS,
        fastPathConcurrency: runtime.config.fastPath.concurrency,
        webhookCoalesceMs: runtime.config.fastPath.coalesceMs,
        credentialDelivery: { partner: 'addon-config (PATCH /addons/{id}/config)', webhook: 'app config vars (PATCH /apps/{id}/config-vars)' },
      },
      runs: runs.map((r, i) => ({ ...rows[i], samples: r.samples.map((x) => ({ ...x, reconcileMs: reconcileMs.get(x.addonId) ?? null })) })),
      partnerChecks,
    });
    console.log(`written: ${path.relative(process.cwd(), file)}`);
  } finally {
    await lane.shutdown(10_000);
    await server.close();
    await world.close();
    await moto.stop();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(2);
});
