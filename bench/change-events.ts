/**
 * Change events (issue 17), side by side in one run:
 *
 * A. How long a bucket stays without its Block Public Access after someone else removes it, at
 *    1,000 managed add-ons in one account, 20 trials, with a full pass a minute running beside:
 *    - events ON, measured: `events setup` for the account (setUpChangeEvents against moto), the
 *      change-event lane (changeEventLane, SQS long polls of 20 s as in `serve`) and the fast lane
 *      (createFastLane; FAST_PATH_COALESCE at its default, 1 s), full passes every 60 s on a real
 *      timer as `serve` runs them. Each trial removes one random managed bucket's public access
 *      block with a plain S3 client acting as another principal in the account (the "second
 *      writer"), then emulates CloudTrail's delivery by putting the real-shaped CloudTrail event
 *      on the account's default bus (EventBridge PutEvents), and polls GetPublicAccessBlock every
 *      100 ms until the block is back. CloudTrail's own delay in handing the event to EventBridge
 *      is NOT in the figure (AWS documents none, "best effort"); on AWS it comes on top.
 *      Four trials a minute, one after the other: in every third minute one 0.2 s after a full
 *      pass starts (changed during the pass), in the next one 0.7 s before the next pass starts
 *      (its keyed reconcile, after the queue read and the 1 s coalescing, then waits for that
 *      pass: PassLock), the rest at random points of the minute.
 *      Before the trials the account is made trusted as the controller requires: its probe back
 *      through the queue, and one CloudTrail record of the account (here of the controller's own
 *      PutBucketPublicAccessBlock, counted as its own change) arrived.
 *    - events OFF, computed (not waited for): the pass that would find the change is the first
 *      pass of the same one-minute schedule, after the change, for which the controller's own
 *      `deepCheckDue` (src/reconciler/deep-checks.ts) says a full or exposure check is due, from
 *      the steady state of that add-on's checks; plus the measured full pass's duration (the
 *      repair is made at the end of that pass). For today's defaults before issue 17
 *      (DEEP_CHECK_WINDOW 1h, no exposure window), for the new defaults without events (1h, and
 *      15m for exposure), and for events ON whose event is lost (24h, 1h for exposure).
 *
 * B. Steady-state AWS calls per pass at 1,000 and 10,000 managed add-ons: today (1h, exposure 1h,
 *    i.e. none), events OFF with the new defaults (1h + 15m exposure), events ON (24h + 30m, the
 *    account watched: a probe has come back through the queue). The mean, min and max over
 *    consecutive passes 60 s apart on the injected clock (15 at 1,000, 6 at 10,000), each finding
 *    nothing to do. Before each mode's passes the store's check times are set to where a
 *    controller that had run that mode for a long time would have them (the last pass at or after
 *    each add-on's most recent window boundary, from the same phase `isDeepCheckDue` uses;
 *    verified with `deepCheckDue`: none overdue), so the first measured pass is a steady one and
 *    no warm-up pass is needed. Events ON adds the lane's own calls, measured over one idle
 *    minute of the lane in A (60 s / the length of an empty ReceiveMessage long poll) plus its probe
 *    round every 10 minutes (PutEvents, what the lane reads with it, and the DeleteMessageBatch of
 *    the probe's message), counted from the lane's first round.
 *
 * Run: `npx tsx bench/change-events.ts`. CE_SIZES=1000 (B's sizes), CE_PASSES_1K, CE_PASSES_10K,
 * CE_TRIALS (multiple of 4) to shorten it.
 */
import { randomUUID } from 'node:crypto';
import { S3Client, DeletePublicAccessBlockCommand, GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { loadConfig, type Config } from '../src/config/config.js';
import { CLOUDTRAIL_DETAIL_TYPE } from '../src/change-events/catalogue.js';
import { setUpChangeEvents, setupRegions } from '../src/change-events/setup.js';
import type { ChangeEventLane } from '../src/change-events/change-event-lane.js';
import { createFastLane } from '../src/fast-lane/fast-lane.js';
import { deepCheckDue, type DeepCheckWindows } from '../src/reconciler/deep-checks.js';
import { changeEventLane } from '../src/runtime.js';
import type { EventSource } from '../src/store/event-source-store.js';
import { startPostgres } from './support/postgres.js';
import { startMoto, type Moto } from './support/moto.js';
import { machine, rssMb, table, writeResult } from './support/report.js';
import { BenchWorld } from './support/world.js';
import { lastChecksInSteadyState, percentile } from './support/deep-check-schedule.js';

const TRIALS = Number(process.env.CE_TRIALS ?? 20);
const TRIAL_SIZE = 1000;
const SIZES = (process.env.CE_SIZES ?? '1000,10000').split(',').map(Number);
const PASSES: Record<number, number> = { 1000: Number(process.env.CE_PASSES_1K ?? 15), 10000: Number(process.env.CE_PASSES_10K ?? 6) };
const PASS_INTERVAL_MS = 60_000;
/** As in `serve` (ChangeEventLane's default). */
const LANE_WAIT_SECONDS = 20;
const PROBE_INTERVAL_MIN = 10;
const GOAL_P95_S = 60;
const TRIALS_PER_MINUTE = 4;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const seconds = (ms: number) => round(ms / 1000, 1);

/** The three deep-check settings compared, as the controller parses them (loadConfig). */
interface Mode {
  key: 'today' | 'off' | 'on';
  label: string;
  env: Record<string, string>;
  events: boolean;
}
const MODES: Mode[] = [
  { key: 'today', label: 'today (before issue 17): 1h, no exposure window', env: { DEEP_CHECK_WINDOW: '1h', DEEP_CHECK_EXPOSURE_WINDOW: '1h' }, events: false },
  { key: 'off', label: 'events OFF, new defaults: 1h + 15m exposure', env: {}, events: false },
  { key: 'on', label: 'events ON, watched: 24h + 30m exposure', env: {}, events: true },
];

function windowsOf(config: Config, events: boolean): DeepCheckWindows {
  return events ? config.deepCheckWindowsWithEvents : { fullMs: config.deepCheckWindowMs, exposureMs: config.exposureCheckWindowMs };
}

/** The controller's window settings as a mode's variables make them (the rest of its configuration unchanged). */
function applyMode(world: BenchWorld, mode: Mode): DeepCheckWindows {
  const parsed = loadConfig({ ...world.env, ...mode.env });
  world.runtime.config.deepCheckWindowMs = parsed.deepCheckWindowMs;
  world.runtime.config.exposureCheckWindowMs = parsed.exposureCheckWindowMs;
  world.runtime.config.deepCheckWindowsWithEvents = parsed.deepCheckWindowsWithEvents;
  return windowsOf(parsed, mode.events);
}

/** Clients in the account acting as someone other than the controller (another role). */
async function secondWriter(moto: Moto, accountId: string) {
  const sts = new STSClient({ endpoint: moto.url, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const session = 'jane.doe';
  const out = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/platform-admin`, RoleSessionName: session }));
  sts.destroy();
  const c = out.Credentials!;
  const credentials = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
  return {
    s3: new S3Client({ endpoint: moto.url, region: 'us-east-1', credentials, forcePathStyle: true }),
    events: new EventBridgeClient({ endpoint: moto.url, region: 'us-east-1', credentials }),
    arn: out.AssumedRoleUser!.Arn!,
    principalId: out.AssumedRoleUser!.AssumedRoleId!,
    accessKeyId: c.AccessKeyId!,
  };
}

/** Who made a call, as CloudTrail's userIdentity names an assumed role. */
interface Actor {
  arn: string;
  principalId: string;
  accessKeyId: string;
}

/**
 * CloudTrail's record of an S3 call on a bucket as EventBridge delivers it ("AWS API Call via
 * CloudTrail"), in the shape of AWS's documented S3 examples (CloudTrail log file entries for
 * Amazon S3; DeletePublicAccessBlock is recorded as DeleteBucketPublicAccessBlock).
 */
function cloudTrailRecord(accountId: string, bucket: string, eventName: string, at: Date, actor: Actor) {
  const roleName = /assumed-role\/([^/]+)\//.exec(actor.arn)?.[1] ?? 'unknown';
  return {
    Source: 'aws.s3',
    DetailType: CLOUDTRAIL_DETAIL_TYPE,
    Resources: [],
    Time: new Date(),
    Detail: JSON.stringify({
      eventVersion: '1.09',
      userIdentity: {
        type: 'AssumedRole',
        principalId: actor.principalId,
        arn: actor.arn,
        accountId,
        accessKeyId: actor.accessKeyId,
        sessionContext: {
          sessionIssuer: { type: 'Role', principalId: actor.principalId.split(':')[0], arn: `arn:aws:iam::${accountId}:role/${roleName}`, accountId, userName: roleName },
          attributes: { creationDate: new Date(at.getTime() - 600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'), mfaAuthenticated: 'false' },
        },
      },
      eventTime: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      eventSource: 's3.amazonaws.com',
      eventName,
      awsRegion: 'us-east-1',
      sourceIPAddress: '198.51.100.23',
      userAgent: '[aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 command/s3api.delete-public-access-block]',
      requestParameters: { bucketName: bucket, Host: `${bucket}.s3.us-east-1.amazonaws.com`, publicAccessBlock: '' },
      responseElements: null,
      additionalEventData: { SignatureVersion: 'SigV4', CipherSuite: 'TLS_AES_128_GCM_SHA256', bytesTransferredIn: 0, AuthenticationMethod: 'AuthHeader', 'x-amz-id-2': randomUUID(), bytesTransferredOut: 0 },
      requestID: randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(),
      eventID: randomUUID(),
      readOnly: false,
      resources: [{ accountId, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${bucket}` }],
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: accountId,
      eventCategory: 'Management',
      tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: `${bucket}.s3.us-east-1.amazonaws.com` },
    }),
  };
}

type Writer = Awaited<ReturnType<typeof secondWriter>>;

/**
 * The controller trusts an account's events only once, beside its probe, a CloudTrail record of
 * the account has arrived (within 24 h: proof that a trail delivers). On AWS any change does it,
 * the controller's own included; here: CloudTrail's record of the controller's own
 * PutBucketPublicAccessBlock on one of its buckets (counted as its own change, not acted on).
 */
async function proveTrail(world: BenchWorld, lane: ChangeEventLane, writer: Writer, bucket: string, poll?: () => Promise<void>): Promise<number> {
  const { runtime, accountId } = world;
  const started = Date.now();
  for (let i = 0; !lane.ownActor(accountId); i++) {
    if (i > 300) throw new Error('bench: the lane never learnt the controller\'s own identity');
    if (poll) await poll();
    else await sleep(100);
  }
  const arn = lane.ownActor(accountId)!;
  const actor: Actor = { arn, principalId: `AROA${randomUUID().replace(/-/g, '').slice(0, 17).toUpperCase()}:${arn.split('/').pop()}`, accessKeyId: 'ASIA' + randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase() };
  const put = await writer.events.send(new PutEventsCommand({ Entries: [cloudTrailRecord(accountId, bucket, 'PutBucketPublicAccessBlock', new Date(Date.now() + world.offsetMs), actor)] }));
  if ((put.FailedEntryCount ?? 0) > 0) throw new Error(`bench: PutEvents refused the CloudTrail record: ${JSON.stringify(put.Entries)}`);
  for (let i = 0; !runtime.changeEvents.watching(accountId); i++) {
    if (i > 300) throw new Error(`bench: the change-event path did not become healthy: ${JSON.stringify(runtime.changeEvents.report([accountId]))}`);
    if (poll) await poll();
    else await sleep(100);
  }
  return Date.now() - started;
}

interface Trial {
  trial: number;
  addonId: string;
  bucket: string;
  /** Wall-clock ms (the controller's clock: offset 0 during A). */
  changedAt: number;
  eventPutAt: number;
  offeredAt: number | null;
  reconcileCalledAt: number | null;
  reconcileStartedAt: number | null;
  reconcileEndedAt: number | null;
  restoredAt: number | null;
  repairMs: number | null;
  /** Seconds from the scheduled start of the nearest full pass (negative: before it). */
  secondInMinute: number;
  /** A full pass was running when the public access block was removed. */
  changedDuringPass: boolean;
  /** The keyed reconcile waited for a full pass (PassLock) this long, ms. */
  lockWaitMs: number | null;
  repairedBy: string;
  computed: Record<string, { foundAfterS: number; repairS: number }>;
}

interface PassRun {
  start: number;
  end: number;
  actions: string[];
  full: number;
  exposure: number;
}

async function repairTrials(world: BenchWorld, writer: Writer) {
  const { runtime, accountId } = world;
  const offWindows = MODES.map((m) => ({ mode: m, windows: windowsOf(loadConfig({ ...world.env, ...m.env }), m.events) }));
  applyMode(world, MODES[2]!);
  const link = (await runtime.store.links.list()).find((l) => l.accountId === accountId)!;
  const regions = setupRegions(link, runtime.config.aws.region, await runtime.store.resources.listByAccount(accountId));
  const setupStarted = Date.now();
  const setup = await setUpChangeEvents(
    {
      clients: runtime.connector.connect({ accountId, auth: link.auth }),
      eventSources: runtime.store.eventSources,
      naming: { instanceId: runtime.config.instanceId, bucketPrefix: runtime.config.bucketPrefix, iamUserPrefix: runtime.config.iamUserPrefix },
    },
    regions,
  );
  console.log(`events setup: ${setup.changes.map((c) => `${c.region} ${c.resource} ${c.change}`).join(', ')} (${((Date.now() - setupStarted) / 1000).toFixed(1)} s)`);

  // The keyed reconciles, timed: called (after coalescing), started (the PassLock granted), ended.
  const keyed: { addonId: string; calledAt: number; startedAt: number; endedAt: number; actions: string[]; deep: boolean }[] = [];
  const controller = runtime.controller;
  const reconcileAddon = controller.reconcileAddon.bind(controller);
  controller.reconcileAddon = async (addonId, options) => {
    const calledAt = Date.now();
    const result = await reconcileAddon(addonId, options);
    keyed.push({ addonId, calledAt, startedAt: result.startedAt.getTime() - world.offsetMs, endedAt: Date.now(), actions: result.actions.map((a) => a.kind), deep: options?.deepCheck === true });
    return result;
  };
  const offered: { addonId: string; at: number; eventName: string }[] = [];
  const fastLane = createFastLane(runtime, () => true);
  const lane = changeEventLane(
    runtime,
    (addonId, hint) => {
      offered.push({ addonId, at: Date.now(), eventName: hint.eventName });
      return fastLane.offerChange(addonId, hint);
    },
    () => true,
    { waitSeconds: LANE_WAIT_SECONDS },
  );
  // When each lane call returned (the lane's ReceiveMessage long polls follow each other at once).
  const laneCallTimes: { at: number; operation: string }[] = [];
  runtime.recorder.onCall((c) => {
    if (c.service === 'sqs' || c.service === 'events') laneCallTimes.push({ at: Date.now(), operation: c.operation });
  });
  const callsBeforeLane = runtime.recorder.calls.length;
  const records = (await runtime.store.resources.listByAccount(accountId)).filter((r) => r.state === 'ready' && r.resourceName);
  fastLane.start();
  lane.start();
  const laneStarted = Date.now();
  await proveTrail(world, lane, writer, records[0]!.resourceName!);
  const healthyAfterMs = Date.now() - laneStarted;
  // What a probe round costs beside the long polls: the probe (PutEvents), whatever the lane reads
  // with it (e.g. the changes rule), and the DeleteMessageBatch of the probe's message when it is back.
  const probeRound: Record<string, number> = { DeleteMessageBatch: 1 };
  for (const c of laneCallTimes) if (!['ReceiveMessage', 'DeleteMessageBatch', 'GetCallerIdentity'].includes(c.operation)) probeRound[c.operation] = (probeRound[c.operation] ?? 0) + 1;
  console.log(`change-event path healthy (probe back, a CloudTrail record of the controller's own call arrived) ${healthyAfterMs} ms after the lane started: ${JSON.stringify(runtime.changeEvents.report([accountId])[0]?.received)}`);

  // Full passes every 60 s on a real timer, one at a time, as `serve` runs them.
  const passes: PassRun[] = [];
  let running: Promise<void> | null = null;
  let stopped = false;
  const runPass = async () => {
    const start = Date.now();
    const result = await runtime.controller.reconcileOnce();
    runtime.changeEvents.setLinkedAccounts(result.accounts.map((a) => a.accountId));
    await fastLane.afterPass(result);
    passes.push({ start, end: Date.now(), actions: result.actions.map((a) => `${a.kind}:${a.addonId}`), full: result.checked.full.length, exposure: result.checked.exposure.length });
  };
  const t0 = Date.now();
  const schedule = (async () => {
    for (let k = 0; !stopped; k++) {
      await sleep(t0 + k * PASS_INTERVAL_MS - Date.now());
      if (stopped) break;
      if (running) continue; // a pass still running: this tick is skipped, as serve's noOverlap does
      running = runPass().finally(() => (running = null));
    }
  })();
  const passRunningAt = (t: number) => passes.some((p) => p.start <= t && t < p.end) || (running !== null && passes.every((p) => p.end <= t));

  // The lane's own calls over the first, idle minute (no change made; the first probe is back).
  // An empty long poll is followed at once by the next, so the time between two returns is one
  // poll's length: ReceiveMessage calls a minute = 60 s / that time.
  await sleep(t0 + PASS_INTERVAL_MS - 1_500 - Date.now());
  const laneMinute: Record<string, number> = {};
  const idle = laneCallTimes.filter((c) => c.at >= t0);
  for (const c of idle) laneMinute[c.operation] = (laneMinute[c.operation] ?? 0) + 1;
  const receives = laneCallTimes.filter((c) => c.operation === 'ReceiveMessage' && c.at >= laneStarted + healthyAfterMs - 50).map((c) => c.at);
  const pollGaps = receives.slice(1).map((at, i) => at - receives[i]!);
  const emptyPollMs = pollGaps.length > 0 ? pollGaps.reduce((x, y) => x + y, 0) / pollGaps.length : LANE_WAIT_SECONDS * 1000;
  const laneIdleSeconds = (Date.now() - t0) / 1000;
  console.log(`lane over ${laneIdleSeconds.toFixed(0)} s idle: ${JSON.stringify(laneMinute)}; empty long polls ${pollGaps.map((g) => (g / 1000).toFixed(2)).join(', ')} s`);

  const chosen = [...records].sort(() => Math.random() - 0.5).slice(0, TRIALS);
  const trials: Trial[] = [];
  for (let i = 0; i < chosen.length; i++) {
    const minute = 1 + Math.floor(i / TRIALS_PER_MINUTE);
    const slot = i % TRIALS_PER_MINUTE;
    // Minutes 1, 4, 7...: the first change 0.2 s after the full pass starts (made during the pass).
    // Minutes 2, 5, 8...: the last one 0.7 s before the next pass starts, so that its keyed
    // reconcile (after the queue read and FAST_PATH_COALESCE's 1 s) comes while that pass runs and
    // waits for it (PassLock). The rest at random points of the minute.
    const jitter = (ms: number) => Math.round((Math.random() - 0.5) * 2 * ms);
    const slots = [
      [10_000 + jitter(3_000), 25_000 + jitter(3_000), 40_000 + jitter(3_000), 52_000 + jitter(3_000)],
      [200, 15_000 + jitter(4_000), 30_000 + jitter(4_000), 45_000 + jitter(4_000)],
      [15_000 + jitter(4_000), 30_000 + jitter(4_000), 45_000 + jitter(4_000), PASS_INTERVAL_MS - 700],
    ][minute % 3]!;
    const offsetMs = slots[slot]!;
    await sleep(t0 + minute * PASS_INTERVAL_MS + offsetMs - Date.now());
    const record = chosen[i]!;
    const bucket = record.resourceName!;
    const changedAt = Date.now();
    const duringPass = passRunningAt(changedAt);
    await writer.s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
    const put = await writer.events.send(new PutEventsCommand({ Entries: [cloudTrailRecord(accountId, bucket, 'DeleteBucketPublicAccessBlock', new Date(changedAt), writer)] }));
    if ((put.FailedEntryCount ?? 0) > 0) throw new Error(`bench: PutEvents refused the CloudTrail event: ${JSON.stringify(put.Entries)}`);
    const eventPutAt = Date.now();
    let restoredAt: number | null = null;
    while (Date.now() - changedAt < 180_000) {
      const pab = await writer.s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket })).catch(() => null);
      const c = pab?.PublicAccessBlockConfiguration;
      if (c?.BlockPublicAcls && c.BlockPublicPolicy && c.IgnorePublicAcls && c.RestrictPublicBuckets) {
        restoredAt = Date.now();
        break;
      }
      await sleep(100);
    }
    // The keyed reconcile's timings are recorded when it returns, shortly after the repair shows.
    for (let w = 0; w < 50 && !keyed.some((k) => k.addonId === record.addonId && k.endedAt >= changedAt); w++) await sleep(100);
    const offer = offered.find((o) => o.addonId === record.addonId && o.at >= changedAt);
    const run = keyed.find((k) => k.addonId === record.addonId && k.calledAt >= changedAt);
    const byPass = passes.find((p) => p.end >= changedAt && p.actions.some((a) => a.endsWith(`:${record.addonId}`)));
    const trial: Trial = {
      trial: i + 1,
      addonId: record.addonId,
      bucket,
      changedAt,
      eventPutAt,
      offeredAt: offer?.at ?? null,
      reconcileCalledAt: run?.calledAt ?? null,
      reconcileStartedAt: run?.startedAt ?? null,
      reconcileEndedAt: run?.endedAt ?? null,
      restoredAt,
      repairMs: restoredAt === null ? null : restoredAt - changedAt,
      secondInMinute: round((changedAt - t0 - Math.round((changedAt - t0) / PASS_INTERVAL_MS) * PASS_INTERVAL_MS) / 1000, 1),
      changedDuringPass: duringPass,
      lockWaitMs: run ? run.startedAt - run.calledAt : null,
      repairedBy: run && run.actions.length > 0 ? `event (keyed: ${run.actions.join(', ')})` : byPass ? 'full pass' : restoredAt ? 'unknown' : 'NOT REPAIRED',
      computed: {},
    };
    trials.push(trial);
    console.log(
      `trial ${i + 1}: ${bucket} repaired in ${trial.repairMs === null ? 'NEVER' : `${trial.repairMs} ms`} (${trial.repairedBy}; ${duringPass ? 'changed during a full pass, ' : ''}lock wait ${trial.lockWaitMs ?? '-'} ms)`,
    );
  }
  stopped = true;
  await schedule;
  await running;
  await lane.stop();
  await fastLane.shutdown(30_000);
  controller.reconcileAddon = reconcileAddon;

  const laneCalls: Record<string, number> = {};
  for (const c of runtime.recorder.calls.slice(callsBeforeLane)) if (c.service === 'sqs' || c.service === 'events' || c.operation === 'GetCallerIdentity') laneCalls[c.operation] = (laneCalls[c.operation] ?? 0) + 1;
  const laneSeconds = (Date.now() - laneStarted) / 1000;
  const passMs = passes.map((p) => p.end - p.start).sort((a, b) => a - b);
  const passMedianMs = passMs[Math.floor(passMs.length / 2)] ?? 0;
  const unexpected = passes.flatMap((p) => p.actions).filter((a) => !trials.some((t) => a.endsWith(`:${t.addonId}`)));
  if (unexpected.length > 0) throw new Error(`bench: full passes acted on add-ons no trial touched: ${unexpected.slice(0, 5).join(', ')}`);

  // Events OFF (and events ON with the event lost): computed from deepCheckDue on the same schedule.
  for (const t of trials) {
    for (const { mode, windows } of offWindows) {
      const key = mode.key === 'on' ? 'onEventLost' : mode.key;
      const k = Math.floor((t.changedAt - t0) / PASS_INTERVAL_MS);
      const lastPass = t0 + k * PASS_INTERVAL_MS;
      const state = lastChecksInSteadyState(t.addonId, windows, t0, lastPass);
      let found: number | null = null;
      for (let p = lastPass + PASS_INTERVAL_MS; p <= lastPass + windows.fullMs + 2 * PASS_INTERVAL_MS; p += PASS_INTERVAL_MS) {
        if (p <= t.changedAt) continue;
        if (deepCheckDue(t.addonId, state, new Date(p), windows) !== 'none') {
          found = p;
          break;
        }
      }
      if (found === null) throw new Error(`bench: no deep check of ${t.addonId} came due within its window (${JSON.stringify(windows)})`);
      t.computed[key] = { foundAfterS: (found - t.changedAt) / 1000, repairS: (found - t.changedAt + passMedianMs) / 1000 };
    }
  }
  return { trials, passes, passMedianMs, laneMinute, laneIdleSeconds, laneCalls, laneSeconds, emptyPollMs, probeRound, healthyAfterMs, setup, offWindows, keyedCount: keyed.length, t0 };
}

interface PassStats {
  addons: number;
  mode: Mode['key'];
  windows: DeepCheckWindows;
  passes: { calls: number; full: number; exposure: number; ms: number; byOperation: Record<string, number> }[];
  preparedMs: number;
}

/** Sets every record's check times to where a controller long in `windows` would have them, just after a pass at `at`. */
async function steadyChecks(world: BenchWorld, windows: DeepCheckWindows, at: number): Promise<void> {
  const store = world.runtime.store;
  const records = (await store.resources.listByAccount(world.accountId)).filter((r) => r.state === 'ready');
  const full = new Map<number, string[]>();
  const exposure = new Map<number, string[]>();
  for (const r of records) {
    const state = lastChecksInSteadyState(r.addonId, windows, at, at);
    if (deepCheckDue(r.addonId, state, new Date(at), windows) !== 'none') throw new Error(`bench: steady state of ${r.addonId} is overdue`);
    const f = state.deepCheckedAt.getTime();
    full.set(f, [...(full.get(f) ?? []), r.addonId]);
    const e = state.exposureCheckedAt.getTime();
    if (e !== f) exposure.set(e, [...(exposure.get(e) ?? []), r.addonId]);
  }
  for (const [t, ids] of full) await store.resources.setDeepChecked(ids, new Date(t), 'full');
  for (const [t, ids] of exposure) await store.resources.setDeepChecked(ids, new Date(t), 'exposure');
}

async function steadyPasses(world: BenchWorld, n: number, mode: Mode, passCount: number, probeLane: ChangeEventLane, sources: EventSource[], writer: Writer, bucket: string): Promise<PassStats> {
  const { runtime, accountId } = world;
  const windows = applyMode(world, mode);
  const prepared = Date.now();
  const now = () => Date.now() + world.offsetMs;
  runtime.changeEvents.configure(mode.events ? sources : []);
  if (mode.events) {
    await proveTrail(world, probeLane, writer, bucket, async () => {
      for (const s of sources) await probeLane.pollOnce(s);
    });
  } else if (runtime.changeEvents.watching(accountId)) throw new Error('bench: the account is watched with events off');
  const anchor = now();
  await steadyChecks(world, windows, anchor);
  const preparedMs = Date.now() - prepared;
  const out: PassStats = { addons: n, mode: mode.key, windows, passes: [], preparedMs };
  // Each pass starts exactly one minute after the last on the controller's clock (the offset
  // makes up for the real time a pass takes: otherwise a 20 s pass would put 80 s between starts).
  const toPass = (i: number) => (world.offsetMs = anchor + (i + 1) * PASS_INTERVAL_MS - Date.now());
  for (let i = 0; i < passCount; i++) {
    toPass(i);
    // The lane polls the queue (and sends its probe every 10 min of the injected clock) between passes.
    if (mode.events) for (const s of sources) await probeLane.pollOnce(s);
    if (runtime.changeEvents.watching(accountId) !== mode.events) throw new Error(`bench: watching is ${!mode.events} in mode ${mode.key}`);
    runtime.recorder.reset();
    toPass(i);
    const started = Date.now();
    const pass = await runtime.controller.reconcileOnce();
    const ms = Date.now() - started;
    if (pass.actions.length > 0) throw new Error(`bench: not in steady state at N=${n} (${mode.key}): ${pass.actions.length} actions, e.g. ${pass.actions[0]!.kind}`);
    const byOperation: Record<string, number> = {};
    for (const c of runtime.recorder.calls) byOperation[c.operation] = (byOperation[c.operation] ?? 0) + 1;
    const calls = runtime.recorder.calls.length;
    out.passes.push({ calls, full: pass.checked.full.length, exposure: pass.checked.exposure.length, ms, byOperation });
    console.log(`N=${n} ${mode.key} pass ${i + 1}/${passCount}: ${calls} calls, ${pass.checked.full.length} full + ${pass.checked.exposure.length} exposure checks, ${(ms / 1000).toFixed(1)} s`);
  }
  return out;
}

async function main() {
  const benchStarted = Date.now();
  const [moto, postgres] = await Promise.all([startMoto(), startPostgres()]);
  const world = await BenchWorld.create({ databaseUrl: await postgres.createDatabase(), endpoint: moto.url });
  let a: Awaited<ReturnType<typeof repairTrials>>;
  const b: PassStats[] = [];
  const timings: Record<string, number> = {};
  try {
    let t = Date.now();
    const first = world.addAddons(100);
    const created = await world.converge(6);
    if (created.failed.length > 0) throw new Error(`bench: ${created.failed.length} actions failed creating the first add-ons: ${created.failed[0]!.error}`);
    await world.cloneConverged(moto, first[0]!.addonId, world.addAddons(TRIAL_SIZE - 100));
    const settle = await world.runtime.controller.reconcileOnce();
    if (settle.actions.length > 0) throw new Error(`bench: not in steady state at ${TRIAL_SIZE}: ${settle.actions.length} actions, e.g. ${settle.actions[0]!.kind}`);
    timings.world1000 = (Date.now() - t) / 1000;
    console.log(`${TRIAL_SIZE} add-ons ready in ${timings.world1000.toFixed(0)} s`);

    t = Date.now();
    const writer = await secondWriter(moto, world.accountId);
    a = await repairTrials(world, writer);
    timings.repairTrials = (Date.now() - t) / 1000;

    const sources = await world.runtime.store.eventSources.list();
    const probeLane = changeEventLane(world.runtime, () => true, () => true, { waitSeconds: 0 });
    let managed = TRIAL_SIZE;
    for (const n of SIZES) {
      t = Date.now();
      if (n > managed) {
        await world.cloneConverged(moto, first[0]!.addonId, world.addAddons(n - managed));
        managed = n;
        timings[`clone${n}`] = (Date.now() - t) / 1000;
        console.log(`cloned up to ${n} add-ons in ${timings[`clone${n}`]!.toFixed(0)} s`);
        t = Date.now();
      }
      for (const mode of MODES) b.push(await steadyPasses(world, n, mode, PASSES[n] ?? 5, probeLane, sources, writer, a.trials[0]!.bucket));
      timings[`passes${n}`] = (Date.now() - t) / 1000;
    }
  } finally {
    await world.close();
    await moto.stop();
    await postgres.stop();
  }

  // ---- A: repair time ----
  const repaired = a.trials.filter((t) => t.repairMs !== null).map((t) => t.repairMs! / 1000);
  const stat = (xs: number[]) => ({ p50: percentile(xs, 0.5), p95: percentile(xs, 0.95), max: Math.max(...xs), mean: xs.reduce((s, x) => s + x, 0) / xs.length });
  const onStats = stat(repaired);
  const computed = (key: string) => stat(a.trials.map((t) => t.computed[key]!.repairS));
  const wmin = (ms: number) => (ms >= 3_600_000 ? `${ms / 3_600_000}h` : `${ms / 60_000}m`);
  const modeWindows = (key: Mode['key']) => {
    const w = a.offWindows.find((o) => o.mode.key === key)!.windows;
    return `${wmin(w.fullMs)} full, ${w.exposureMs < w.fullMs ? `${wmin(w.exposureMs)} exposure` : 'no exposure window'}`;
  };
  const aRows: Record<string, string | number>[] = [
    {
      mode: 'events ON (measured; CloudTrail→EventBridge delay not included)',
      windows: modeWindows('on'),
      trials: `${repaired.length}/${a.trials.length}`,
      'p50 s': round(onStats.p50),
      'p95 s': round(onStats.p95),
      'max s': round(onStats.max),
      'mean s': round(onStats.mean),
      goal: `p95 < ${GOAL_P95_S} s`,
      met: repaired.length === a.trials.length && onStats.p95 < GOAL_P95_S ? 'yes' : 'NO',
    },
    ...(
      [
        ['today', 'events OFF, today before issue 17 (computed)'],
        ['off', 'events OFF, new defaults (computed)'],
        ['onEventLost', 'events ON but the event lost (computed)'],
      ] as const
    ).map(([key, label]) => {
      const s = computed(key);
      return { mode: label, windows: modeWindows(key === 'onEventLost' ? 'on' : key), trials: `${a.trials.length}/${a.trials.length}`, 'p50 s': round(s.p50), 'p95 s': round(s.p95), 'max s': round(s.max), 'mean s': round(s.mean), goal: '', met: '' };
    }),
  ];
  const trialRows = a.trials.map((t) => ({
    trial: t.trial,
    'add-on': t.addonId.slice(0, 8),
    's from pass start': t.secondInMinute,
    'during full pass': t.changedDuringPass ? 'yes' : '',
    'PutEvents s': seconds(t.eventPutAt - t.changedAt),
    'offered s': t.offeredAt === null ? '-' : seconds(t.offeredAt - t.changedAt),
    'lock wait s': t.lockWaitMs === null ? '-' : seconds(t.lockWaitMs),
    'keyed reconcile s': t.reconcileStartedAt === null || t.reconcileEndedAt === null ? '-' : seconds(t.reconcileEndedAt - t.reconcileStartedAt),
    'repaired s (ON)': t.repairMs === null ? 'NEVER' : seconds(t.repairMs),
    'by': t.repairedBy.startsWith('event') ? 'event' : t.repairedBy,
    'OFF today s': round(t.computed.today!.repairS, 0),
    'OFF new s': round(t.computed.off!.repairS, 0),
    'ON, event lost s': round(t.computed.onEventLost!.repairS, 0),
  }));
  const duringPass = a.trials.filter((t) => t.changedDuringPass);
  const waited = a.trials.filter((t) => (t.lockWaitMs ?? 0) > 50);

  // ---- B: calls per pass ----
  const probeRoundCalls = Object.values(a.probeRound).reduce((x, y) => x + y, 0);
  const probeCallsPerMin = probeRoundCalls / PROBE_INTERVAL_MIN;
  const receivePerMin = 60_000 / a.emptyPollMs;
  const laneCallsPerMin = receivePerMin + probeCallsPerMin;
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const bRows: Record<string, string | number>[] = [];
  const bSummary: Record<string, unknown>[] = [];
  for (const s of b) {
    const calls = s.passes.map((p) => p.calls);
    const lane = s.mode === 'on' ? laneCallsPerMin : 0;
    const today = b.find((x) => x.addons === s.addons && x.mode === 'today')!;
    const todayMean = mean(today.passes.map((p) => p.calls));
    const total = mean(calls) + lane;
    bRows.push({
      'add-ons': s.addons,
      mode: MODES.find((m) => m.key === s.mode)!.label,
      passes: calls.length,
      'calls/pass mean': round(mean(calls)),
      min: Math.min(...calls),
      max: Math.max(...calls),
      'full checks/pass': round(mean(s.passes.map((p) => p.full))),
      'exposure checks/pass': round(mean(s.passes.map((p) => p.exposure))),
      'lane calls/min': s.mode === 'on' ? round(lane, 2) : '-',
      'total/pass': round(total),
      'vs today': s.mode === 'today' ? '1' : `${round(total / todayMean, 2)}`,
      'pass s': round(mean(s.passes.map((p) => p.ms)) / 1000),
    });
    bSummary.push({ addons: s.addons, mode: s.mode, windows: s.windows, passes: s.passes, meanCalls: mean(calls), minCalls: Math.min(...calls), maxCalls: Math.max(...calls), laneCallsPerMin: lane, totalPerPass: total, ratioToToday: total / todayMean, preparedMs: s.preparedMs });
  }
  const callsGoal = SIZES.map((n) => {
    const m = (k: Mode['key']) => bSummary.find((x) => x.addons === n && x.mode === k)!.totalPerPass as number;
    return { addons: n, today: m('today'), on: m('on'), met: m('on') < m('today') };
  });
  const todayRepair = computed('today');

  console.log(`\nFull passes during A: ${a.passes.length}, median ${seconds(a.passMedianMs)} s (${a.passes.map((p) => seconds(p.end - p.start)).join(', ')} s), each ${a.passes.map((p) => `${p.full}+${p.exposure}`).join(', ')} full+exposure checks`);
  console.log(
    `Lane (one us-east-1 queue, long polls of ${LANE_WAIT_SECONDS} s): over ${a.laneIdleSeconds.toFixed(0)} s idle ${JSON.stringify(a.laneMinute)}, an empty poll ${seconds(a.emptyPollMs)} s = ${round(receivePerMin, 2)} ReceiveMessage/min; over all of A's ${a.laneSeconds.toFixed(0)} s (${a.trials.length} events, the first probe) ${JSON.stringify(a.laneCalls)}`,
  );
  table(`A. Repair time after "Block Public Access removed", ${TRIAL_SIZE} add-ons, ${a.trials.length} trials, a full pass every 60 s (FAST_PATH_COALESCE 1 s, default)`, aRows);
  console.log(
    `Events ON is measured from the DeletePublicAccessBlock call to GetPublicAccessBlock showing the block again (polled every 100 ms), with CloudTrail's delivery emulated by PutEvents right after the call: CloudTrail's own delay in handing the event to EventBridge (AWS documents none: "best effort") is NOT included and comes on top on AWS. The other rows are computed, not waited for: the first pass of the same schedule after the change at which deepCheckDue() says the add-on's full or exposure check is due, plus the median full-pass duration (${seconds(a.passMedianMs)} s). ${duringPass.length} of ${a.trials.length} changes landed while a full pass ran; ${waited.length} keyed reconciles waited for a full pass (PassLock), up to ${seconds(Math.max(0, ...a.trials.map((t) => t.lockWaitMs ?? 0)))} s.`,
  );
  table('A, per trial (seconds after the change; "OFF" columns computed)', trialRows);
  table(`B. Steady-state AWS calls per pass, one account, passes 60 s apart on the injected clock (events ON adds the lane: ${round(receivePerMin, 2)} ReceiveMessage/min measured + ${round(probeCallsPerMin, 2)} probe calls/min: ${probeRoundCalls} a probe round, ${JSON.stringify(a.probeRound)}, every ${PROBE_INTERVAL_MIN} min)`, bRows);
  table('Goals', [
    { goal: `events ON: repair p95 < ${GOAL_P95_S} s at ${TRIAL_SIZE} add-ons`, measured: `p95 ${round(onStats.p95)} s (p50 ${round(onStats.p50)}, max ${round(onStats.max)}); today ${round(todayRepair.p95)} s p95 (computed)`, met: aRows[0]!.met! },
    ...callsGoal.map((g) => ({ goal: `events ON: fewer calls per pass than today, ${g.addons.toLocaleString('en-US')} add-ons`, measured: `${round(g.on)} vs ${round(g.today)} (${round(g.on / g.today, 2)}×)`, met: g.met ? 'yes' : 'NO' })),
  ]);
  const file = writeResult('change-events', {
    repair: {
      addons: TRIAL_SIZE,
      trials: a.trials,
      eventsOn: onStats,
      computed: { today: computed('today'), eventsOffNewDefaults: computed('off'), eventsOnEventLost: computed('onEventLost') },
      windows: Object.fromEntries(a.offWindows.map((o) => [o.mode.key, o.windows])),
      fullPasses: a.passes.map((p) => ({ ms: p.end - p.start, full: p.full, exposure: p.exposure, actions: p.actions })),
      passMedianMs: a.passMedianMs,
      changedDuringPass: duringPass.length,
      keyedWaitedForPass: waited.length,
      healthyAfterMs: a.healthyAfterMs,
      fastPathCoalesceMs: 1000,
      laneWaitSeconds: LANE_WAIT_SECONDS,
      notIncluded: "CloudTrail's delivery delay to EventBridge (AWS documents none; best effort)",
    },
    lane: { idleSeconds: a.laneIdleSeconds, idleCalls: a.laneMinute, emptyPollMs: a.emptyPollMs, callsDuringRepairTrials: a.laneCalls, laneSeconds: a.laneSeconds, receivePerMin, probeRound: a.probeRound, probeCallsPerMin, callsPerMin: laneCallsPerMin },
    callsPerPass: bSummary,
    goals: { repairP95S: GOAL_P95_S, repairMet: aRows[0]!.met === 'yes', calls: callsGoal },
    timings,
    rssMb: rssMb(),
    seconds: (Date.now() - benchStarted) / 1000,
  });
  console.log(`\nwritten ${file}; ${((Date.now() - benchStarted) / 1000).toFixed(0)} s (${JSON.stringify(timings)}); machine ${JSON.stringify(machine())}`);
}

await main();
