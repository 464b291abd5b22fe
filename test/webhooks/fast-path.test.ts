/**
 * Issue 6, items 1 and 3 wired together: the fast path's work queue behind `POST /webhooks/heroku`
 * on the real HTTP server (startHttpServer with the route mounted), driven with Heroku's published
 * example payloads, signed, mis-signed and replayed. A counting controller stands in for
 * `reconcileAddon` (the reconcile itself is tested on the stand in single-key-reconcile.test.ts);
 * the queue's clock is moved by hand, so coalescing and backoff are exact.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startPublicListener } from '../../src/http/public-listener.js';
import type { HttpServer } from '../../src/http/listen.js';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { AddonPassResult } from '../../src/reconciler/controller.js';
import type { ExecutionSummary } from '../../src/reconciler/executor.js';
import { DriftKind } from '../../src/reasons.js';
import { FastPath, WEBHOOK_PATH, type FastPathOptions } from '../../src/fast-lane/keyed-queue.js';
import { silentLogger } from '../../src/util/log.js';
import { mapLimit } from '../../src/util/map-limit.js';
import { SIGNATURE_HEADER, signHerokuWebhook } from '../../src/webhooks/heroku-webhooks.js';
import { ManualClock, settle } from '../queue/manual-clock.js';

const EVENTS_DIR = new URL('../../../shared/heroku/webhook-events/', import.meta.url);
const KINDS = ['api-addon-create', 'api-addon-update', 'api-addon-destroy', 'api-addon-attachment-create', 'api-addon-attachment-destroy'];
const SECRET = 'fast-path-secret-0b8e6f1d93';
const OLD_SECRET = 'fast-path-old-secret-5521ac';
const ADDON = '6f1c9a52-3d4e-4b7a-9c2d-81e5f0a7b3c4';
const OTHER = '0d2b7e14-9a63-4f8c-b1e5-3c7a9d2f6e80';

/** A published example re-pointed at `addonId`, with its own delivery id: a new delivery. */
function delivery(kind: string, addonId: string, deliveryId: string): Buffer {
  const event = JSON.parse(readFileSync(new URL(`${kind}.json`, EVENTS_DIR), 'utf8')) as Record<string, any>;
  if (kind.startsWith('api-addon-attachment')) event.data.addon.id = addonId;
  else event.data.id = addonId;
  event.webhook_metadata.delivery.id = deliveryId;
  return Buffer.from(JSON.stringify(event));
}

function deliveryId(i: number): string {
  return `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
}

class CountingController {
  readonly calls: string[] = [];
  /** Answers in order, then `complete`; a function is awaited (a gate or a throw). */
  readonly script: Array<'complete' | 'incomplete' | 'failed' | 'denied' | (() => Promise<void>)> = [];

  async reconcileAddon(addonId: string): Promise<AddonPassResult> {
    this.calls.push(addonId);
    const step = this.script.shift() ?? 'complete';
    if (typeof step === 'function') await step();
    const failed = step === 'failed' || step === 'denied' ? 1 : 0;
    // An action the cloud refused for lack of permission, as the executor reports it.
    const outcomes: ExecutionSummary['outcomes'] =
      step === 'denied'
        ? [{ action: { addonId, accountId: '999900001111', bucket: 'b', region: 'us-east-1', kind: 'put-bucket-versioning', reason: DriftKind.VersioningChanged, desired: true }, result: 'failed', error: 'Access Denied', failure: 'access-denied' }]
        : [];
    return {
      addonId,
      startedAt: new Date(),
      durationMs: 0,
      heroku: step === 'incomplete' ? 'unknown' : 'found',
      complete: step !== 'incomplete',
      error: step === 'incomplete' ? 'Heroku GET /addons/x failed: 503' : null,
      actions: [],
      accounts: [],
      execution: { outcomes, applied: 0, failed, blocked: 0, skipped: 0 },
    };
  }
}

interface Rig {
  fastPath: FastPath;
  controller: CountingController;
  clock: ManualClock;
  server: HttpServer;
  leader: { value: boolean };
  post(body: Buffer, signature?: string | null): Promise<{ status: number; body: any }>;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    await rig.fastPath.shutdown(100);
    await rig.server.close();
  }
});

async function rig(options: Partial<FastPathOptions> = {}): Promise<Rig> {
  const controller = new CountingController();
  const clock = new ManualClock(1_000_000);
  const leader = { value: true };
  const fastPath = new FastPath({
    controller,
    isLeader: () => leader.value,
    logger: silentLogger(),
    webhookSecrets: [SECRET, OLD_SECRET],
    coalesceMs: 1_000,
    backoff: { baseMs: 1_000, maxMs: 60_000 },
    rateLimit: { qps: Infinity, burst: 1 },
    clock,
    ...options,
  });
  fastPath.start();
  const server = await startPublicListener(
    0,
    { routes: fastPath.route ? [fastPath.route] : [], requestsPerMinute: Number.MAX_SAFE_INTEGER },
    '127.0.0.1',
  );
  const post = async (body: Buffer, signature: string | null = signHerokuWebhook(body, SECRET)) => {
    const res = await fetch(`${server.url}${WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(signature === null ? {} : { [SIGNATURE_HEADER]: signature }) },
      body,
    });
    return { status: res.status, body: await res.json() };
  };
  const r = { fastPath, controller, clock, server, leader, post };
  rigs.push(r);
  return r;
}

describe('fast path behind POST /webhooks/heroku', () => {
  it('a storm of 500 signed deliveries for one add-on causes exactly one reconcile', async () => {
    const { fastPath, controller, clock, post } = await rig();
    const bodies = Array.from({ length: 500 }, (_, i) => delivery(KINDS[i % KINDS.length]!, ADDON, deliveryId(i)));
    const answers = await mapLimit(bodies, 25, (body) => post(body));
    expect(answers.filter((a) => a.status === 202)).toHaveLength(500);
    expect(controller.calls).toEqual([]); // still inside the coalescing window
    await clock.advance(1_000);
    await fastPath.idle();
    expect(controller.calls).toEqual([ADDON]);
    // Nothing is left waiting: no retry, no second run.
    await clock.advance(120_000);
    expect(controller.calls).toEqual([ADDON]);
    expect(fastPath.stats()).toEqual({ queued: 0, running: 0, dirty: 0, delayed: 0 });
  });

  it('replays are answered as duplicates and enqueue nothing', async () => {
    const { controller, clock, post } = await rig();
    const bodies = KINDS.map((kind, i) => delivery(kind, ADDON, deliveryId(i)));
    for (const body of bodies) expect((await post(body)).status).toBe(202);
    await clock.advance(1_000);
    expect(controller.calls).toEqual([ADDON]);
    // The same deliveries again, byte for byte (a `sync` retry, or a replayed capture).
    const again = await mapLimit([...bodies, ...bodies], 10, (body) => post(body));
    expect(again.map((a) => `${a.status} ${a.body.status}`)).toEqual(Array(10).fill('200 duplicate'));
    await clock.advance(60_000);
    expect(controller.calls).toEqual([ADDON]);
  });

  it('mis-signed deliveries are refused with 401 and enqueue nothing; the previous secret still verifies', async () => {
    const { fastPath, controller, clock, post } = await rig();
    const body = delivery('api-addon-create', ADDON, deliveryId(1));
    const tampered = Buffer.from(body.toString('utf8').replace(ADDON, OTHER));
    const refused = [
      await post(body, signHerokuWebhook(body, 'not-the-secret')),
      await post(tampered, signHerokuWebhook(body, SECRET)), // signature of other bytes
      await post(body, null),
      await post(body, 'bm90LWEtc2lnbmF0dXJl'),
    ];
    expect(refused.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    await clock.advance(60_000);
    expect(controller.calls).toEqual([]);
    expect(fastPath.stats()).toEqual({ queued: 0, running: 0, dirty: 0, delayed: 0 });
    // Rotation: a delivery signed with the previous secret is accepted.
    expect((await post(body, signHerokuWebhook(body, OLD_SECRET))).status).toBe(202);
    await clock.advance(1_000);
    expect(controller.calls).toEqual([ADDON]);
  });

  it('deliveries during a running reconcile cause one more run, not one per delivery', async () => {
    const { fastPath, controller, clock, post } = await rig();
    let release!: () => void;
    controller.script.push(() => new Promise<void>((resolve) => (release = resolve)));
    await post(delivery('api-addon-create', ADDON, deliveryId(1)));
    await clock.advance(1_000);
    expect(controller.calls).toEqual([ADDON]);
    expect(fastPath.stats().running).toBe(1);
    // 50 more events while it runs: the run may have read state older than them.
    await mapLimit(Array.from({ length: 50 }, (_, i) => i + 2), 10, (i) => post(delivery('api-addon-update', ADDON, deliveryId(i))));
    await clock.advance(1_000);
    release();
    await settle();
    await fastPath.idle();
    await clock.advance(60_000);
    expect(controller.calls).toEqual([ADDON, ADDON]);
  });

  it('different add-ons are reconciled each once', async () => {
    const { controller, clock, post } = await rig();
    await mapLimit(Array.from({ length: 40 }, (_, i) => i), 10, (i) => post(delivery('api-addon-update', i % 2 ? ADDON : OTHER, deliveryId(i))));
    await clock.advance(1_000);
    expect([...controller.calls].sort()).toEqual([ADDON, OTHER].sort());
  });

  it('a failed or incomplete reconcile is retried with growing backoff; success forgets it', async () => {
    const { controller, clock, post } = await rig();
    controller.script.push(
      () => Promise.reject(new Error('boom')),
      'incomplete',
      'failed',
      'complete',
    );
    await post(delivery('api-addon-create', ADDON, deliveryId(1)));
    await clock.advance(1_000);
    expect(controller.calls).toHaveLength(1); // throws: retry after 1 s
    await clock.advance(999);
    expect(controller.calls).toHaveLength(1);
    await clock.advance(1);
    expect(controller.calls).toHaveLength(2); // incomplete read: retry after 2 s
    await clock.advance(2_000);
    expect(controller.calls).toHaveLength(3); // an action failed: retry after 4 s
    await clock.advance(3_999);
    expect(controller.calls).toHaveLength(3);
    await clock.advance(1);
    expect(controller.calls).toHaveLength(4); // complete: forgotten
    await clock.advance(600_000);
    expect(controller.calls).toHaveLength(4);
  });

  it('a failure asking again soon will not fix (access denied) waits the longest backoff at once, and says so', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    const { controller, clock, post } = await rig({ logger });
    const denied = Object.assign(new Error('User is not authorized to perform: s3:PutBucketVersioning'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    controller.script.push(() => Promise.reject(denied), 'denied', 'complete');
    await post(delivery('api-addon-create', ADDON, deliveryId(1)));
    await clock.advance(1_000);
    expect(controller.calls).toHaveLength(1); // threw AccessDenied: not again before 60 s
    await clock.advance(59_999);
    expect(controller.calls).toHaveLength(1);
    await clock.advance(1);
    expect(controller.calls).toHaveLength(2); // an action was denied: again 60 s later, not 2 s
    await clock.advance(59_999);
    expect(controller.calls).toHaveLength(2);
    await clock.advance(1);
    expect(controller.calls).toHaveLength(3);
    expect(lines.find((l) => l.reason === 'addon-reconcile-failed')).toMatchObject({ addonId: ADDON, failure: 'access-denied', retryable: false });
    expect(String(lines.find((l) => l.reason === 'addon-reconcile-failed')?.msg)).toMatch(/access-denied: the call was refused for lack of permission \(AccessDenied\).*waiting the longest backoff/);
    expect(lines.find((l) => l.reason === 'addon-reconcile-incomplete')).toMatchObject({ addonId: ADDON, failed: 1, failures: ['access-denied'] });
  });

  it('a standby refuses deliveries (503, so a retry may reach the leader) and drops keys when leadership is lost', async () => {
    const { fastPath, controller, clock, post, leader } = await rig();
    leader.value = false;
    const refused = await post(delivery('api-addon-create', ADDON, deliveryId(1)));
    expect(refused.status).toBe(503);
    expect(fastPath.enqueue(ADDON)).toBe(false);
    expect(fastPath.enqueueAll([ADDON, OTHER])).toBe(0);
    await clock.advance(60_000);
    expect(controller.calls).toEqual([]);
    // The same delivery is accepted once this replica leads: the 503 did not mark it as seen.
    leader.value = true;
    expect((await post(delivery('api-addon-create', ADDON, deliveryId(1)))).status).toBe(202);
    // Leadership lost while the key waits: it is dropped, not reconciled.
    leader.value = false;
    await clock.advance(1_000);
    expect(controller.calls).toEqual([]);
  });

  it('the resync safety net enqueues every key at once; keys offered before start() wait for it; shutdown drops waiting keys', async () => {
    const controller = new CountingController();
    const clock = new ManualClock();
    const fastPath = new FastPath({ controller, isLeader: () => true, logger: silentLogger(), clock, rateLimit: { qps: Infinity, burst: 1 } });
    expect(fastPath.route).toBeNull(); // no WEBHOOK_SECRETS, no route
    expect(fastPath.enqueueAll([ADDON, OTHER, ADDON])).toBe(2);
    await settle();
    expect(controller.calls).toEqual([]);
    fastPath.start();
    await settle();
    await fastPath.idle();
    expect([...controller.calls].sort()).toEqual([ADDON, OTHER].sort());
    fastPath.enqueue(ADDON);
    const result = await fastPath.shutdown(1_000);
    expect(result).toEqual({ drained: true, abandoned: [], dropped: 1 });
    expect(fastPath.enqueue(OTHER)).toBe(false);
    await clock.advance(10_000);
    expect(controller.calls).toHaveLength(2);
  });
});
