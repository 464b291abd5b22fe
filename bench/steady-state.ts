/**
 * Steady-state AWS calls per pass for N = 100, 1,000 and 5,000 managed add-ons in one account,
 * beside a describe-everything-per-resource baseline measured on the same account in the same run.
 * Goal: at N = 1,000, at most 1/20 of the baseline.
 *
 * How: the first 100 add-ons are created by the controller itself (passes until nothing is left to
 * do); the rest are cloned from one of them inside moto and the controller's store (see
 * BenchWorld.cloneConverged), since creating thousands through moto's HTTP API would take far
 * longer than the whole benchmark budget. The measured pass runs one resync interval (60 s, the
 * default RESYNC_SCHEDULE) after the previous one on the controller's clock, with the default
 * DEEP_CHECK_WINDOW (1 h): the cost of an ordinary pass, deep checks due in that minute included.
 * The baseline reads every bucket's tags, public access block, encryption, ownership controls,
 * policy and lifecycle, and every user, its inline policies and its access keys (2 + 10 N calls);
 * above 100 add-ons it is measured on a random sample of 100 and scaled (the per-resource cost is the same for every add-on) (BASELINE_FULL=1: all).
 *
 * A last size of 10,000 (no baseline) is measured in a process of its own: the compiled controller
 * under plain node with the chart's V8 heap cap, two dry-run passes (bench/support/pass-rss.mjs).
 * The first gives the pass's calls and time, both give the process's peak RSS with 10k managed
 * add-ons (BENCH_RSS_UNCAPPED=1: also without the heap cap, as Node sizes the heap by itself).
 *
 * Run: `npx tsx bench/steady-state.ts` (STEADY_SIZES=100,1000 to choose the sizes).
 */
import { S3Client, GetBucketEncryptionCommand, GetBucketLifecycleConfigurationCommand, GetBucketOwnershipControlsCommand, GetBucketPolicyCommand, GetBucketTaggingCommand, GetPublicAccessBlockCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { IAMClient, GetUserCommand, GetUserPolicyCommand, ListAccessKeysCommand, ListUserPoliciesCommand, ListUsersCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadYaml } from '@kubernetes/client-node';
import path from 'node:path';
import { ApiCallRecorder } from '../src/sinks/aws/api-calls.js';
import { mapLimit } from '../src/util/map-limit.js';
import { startPostgres } from './support/postgres.js';
import { ROOT, startMoto, type Moto } from './support/moto.js';
import { machine, rssMb, table, writeResult } from './support/report.js';
import { BenchWorld } from './support/world.js';

const SIZES = (process.env.STEADY_SIZES ?? '100,1000,5000,10000').split(',').map(Number);
/** Above this, no baseline: the size is there for the pass's cost and the process's RSS. */
const BASELINE_MAX = 5000;
const GOAL_RATIO_AT_1000 = 20;
/** The baseline's calls per add-on are the same for every add-on (10), so a sample measures them. */
const SAMPLE = 100;

async function accountClients(moto: Moto, accountId: string) {
  const sts = new STSClient({ endpoint: moto.url, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const c = (await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/bench`, RoleSessionName: 'baseline' }))).Credentials!;
  sts.destroy();
  const credentials = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
  return {
    s3: new S3Client({ endpoint: moto.url, region: 'us-east-1', credentials, forcePathStyle: true }),
    iam: new IAMClient({ endpoint: moto.url, region: 'us-east-1', credentials }),
  };
}

/** The describe-everything observer, counted call by call; on a sample when `sample` < N. */
async function baseline(moto: Moto, accountId: string, n: number, sample: number) {
  const recorder = new ApiCallRecorder({ keepCalls: true });
  const { s3, iam } = await accountClients(moto, accountId);
  recorder.instrument(s3.middlewareStack, accountId, 's3');
  recorder.instrument(iam.middlewareStack, accountId, 'iam');
  const started = Date.now();
  const buckets = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!).filter((name) => name.startsWith('hs3-'));
  const users: string[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(new ListUsersCommand({ PathPrefix: '/heroku-s3-controller/', ...(marker ? { Marker: marker } : {}) }));
    users.push(...(page.Users ?? []).map((u) => u.UserName!));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  if (buckets.length !== n || users.length !== n) throw new Error(`bench: baseline found ${buckets.length} buckets and ${users.length} users, expected ${n}`);
  const listing = recorder.calls.length;
  const pick = <T>(items: T[]) => (sample >= items.length ? items : [...items].sort(() => Math.random() - 0.5).slice(0, sample));
  const sampled = Math.min(sample, n);
  await mapLimit(pick(buckets), 8, async (Bucket) => {
    await s3.send(new GetBucketTaggingCommand({ Bucket }));
    await s3.send(new GetPublicAccessBlockCommand({ Bucket }));
    await s3.send(new GetBucketEncryptionCommand({ Bucket }));
    await s3.send(new GetBucketOwnershipControlsCommand({ Bucket }));
    await s3.send(new GetBucketPolicyCommand({ Bucket }));
    await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }));
  });
  await mapLimit(pick(users), 8, async (UserName) => {
    await iam.send(new GetUserCommand({ UserName }));
    for (const PolicyName of (await iam.send(new ListUserPoliciesCommand({ UserName }))).PolicyNames ?? []) {
      await iam.send(new GetUserPolicyCommand({ UserName, PolicyName }));
    }
    await iam.send(new ListAccessKeysCommand({ UserName }));
  });
  const perResource = (recorder.calls.length - listing) / sampled;
  const errors = recorder.calls.filter((c) => c.outcome === 'error').length;
  s3.destroy();
  iam.destroy();
  return { calls: Math.round(listing + perResource * n), measuredCalls: recorder.calls.length, sampled, perResource, errors, seconds: (Date.now() - started) / 1000 };
}

/**
 * The V8 heap cap the chart gives the controller by default: heapPercentOfMemoryLimit of
 * resources.limits.memory in its values.yaml (templates/_helpers.tpl, "hsc.heapMegabytes").
 */
function chartHeapCapMb(): number {
  const values = loadYaml<{ resources: { limits: { memory: string } }; heapPercentOfMemoryLimit: number }>(
    readFileSync(path.join(ROOT, 'deploy/helm/heroku-s3-controller/values.yaml'), 'utf8'),
  );
  const limit = /^(\d+)(Mi|Gi)$/.exec(values.resources.limits.memory);
  if (!limit) throw new Error(`bench: cannot read the chart's memory limit ${values.resources.limits.memory}`);
  const mebibytes = Number(limit[1]) * (limit[2] === 'Gi' ? 1024 : 1);
  return Math.floor((mebibytes * values.heapPercentOfMemoryLimit) / 100);
}

export interface ControllerMemory {
  nodeOptions: string;
  heapLimitMb: number;
  rssBeforePassMb: number;
  maxRssMb: number;
  passes: { seconds: number; maxRssMb: number; rssAfterMb: number; heapUsedMb: number; actions: number; byOperation: Record<string, number>; mutations: number }[];
  managed: number;
  actions: number;
}

/**
 * RSS of the controller alone: dry-run passes in a process of its own, the compiled controller
 * under plain node (bench/support/pass-rss.mjs), with the given V8 flags. Asynchronous: the
 * Heroku fake it talks to lives in this process.
 */
async function controllerRss(world: BenchWorld, nodeFlags: string[]): Promise<ControllerMemory> {
  const child = spawn(process.execPath, [...nodeFlags, path.join(ROOT, 'bench/support/pass-rss.mjs')], {
    cwd: ROOT,
    env: { ...process.env, ...world.env, BENCH_CLOCK_OFFSET_MS: String(world.offsetMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ControllerMemory;
  } catch {
    throw new Error(`bench: the controller process failed (${code}): ${stderr.slice(-2000)}`);
  }
}

/** Compiles the controller (dist/), which the RSS measurement runs as the image does. */
function buildController(): void {
  const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('bench: `tsc -p tsconfig.build.json` failed');
}

async function main() {
  const benchStarted = Date.now();
  const [moto, postgres] = await Promise.all([startMoto(), startPostgres()]);
  const world = await BenchWorld.create({ databaseUrl: await postgres.createDatabase(), endpoint: moto.url });
  const rows: Record<string, string | number>[] = [];
  const results: Record<string, unknown>[] = [];
  try {
    const first = world.addAddons(Math.min(100, SIZES[0]!));
    const t = Date.now();
    const created = await world.converge(6);
    if (created.failed.length > 0) throw new Error(`bench: ${created.failed.length} actions failed creating the first add-ons: ${created.failed[0]!.error}`);
    console.log(`created ${first.length} add-ons through the controller in ${((Date.now() - t) / 1000).toFixed(1)} s (${created.passes.length} passes)`);
    let managed = first.length;
    for (const n of SIZES) {
      if (n > managed) {
        const t0 = Date.now();
        await world.cloneConverged(moto, first[0]!.addonId, world.addAddons(n - managed));
        managed = n;
        console.log(`cloned up to ${n} add-ons in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      // A pass to settle (the clones' first), then the measured one, one resync interval later.
      world.offsetMs += 60_000;
      const settle = await world.runtime.controller.reconcileOnce();
      world.offsetMs += 60_000;
      world.runtime.recorder.reset();
      world.fake.resetRequests();
      if (settle.actions.length > 0) throw new Error(`bench: the world is not in steady state at N=${n}: ${settle.actions.length} actions, e.g. ${settle.actions[0]!.kind}`);
      let measured: { ms: number; byOperation: Record<string, number>; mutations: number; herokuRequests: number };
      let own: ControllerMemory | null = null;
      let uncapped: ControllerMemory | null = null;
      if (n > BASELINE_MAX) {
        // The controller alone, compiled, under the chart's heap cap: its first pass is the
        // measured one, and its RSS over two passes is the memory figure.
        buildController();
        own = await controllerRss(world, [`--max-old-space-size=${chartHeapCapMb()}`]);
        const herokuRequests = world.fake.requests.length / own.passes.length;
        // Node's own heap sizing, for comparison (BENCH_RSS_UNCAPPED=1; two more passes).
        if (process.env.BENCH_RSS_UNCAPPED === '1') uncapped = await controllerRss(world, []);
        for (const run of [own, uncapped]) {
          if (run && run.actions > 0) throw new Error(`bench: the world is not in steady state at N=${n}: the controller process found ${run.actions} actions`);
        }
        measured = { ms: own.passes[0]!.seconds * 1000, byOperation: own.passes[0]!.byOperation, mutations: own.passes[0]!.mutations, herokuRequests };
      } else {
        const passStarted = Date.now();
        const pass = await world.runtime.controller.reconcileOnce();
        const ms = Date.now() - passStarted;
        if (pass.actions.length > 0) throw new Error(`bench: the world is not in steady state at N=${n}: ${pass.actions.length} actions, e.g. ${pass.actions[0]!.kind}`);
        const byOperation: Record<string, number> = {};
        for (const c of world.runtime.recorder.calls) byOperation[c.operation] = (byOperation[c.operation] ?? 0) + 1;
        measured = { ms, byOperation, mutations: world.runtime.recorder.mutations().length, herokuRequests: world.fake.requests.length };
      }
      const rss = rssMb();
      const { byOperation, herokuRequests, ms: passMs } = measured;
      const calls = Object.values(byOperation).reduce((sum, count) => sum + count, 0);
      const base = n > BASELINE_MAX ? null : await baseline(moto, world.accountId, n, process.env.BASELINE_FULL === '1' || n <= 100 ? n : SAMPLE);
      const ratio = base ? base.calls / Math.max(1, calls) : 0;
      const goal = n === 1000 ? `≥ ${GOAL_RATIO_AT_1000}` : '';
      rows.push({
        'add-ons': n,
        'controller calls/pass': calls,
        'deep-checked': byOperation.ListAccessKeys ?? 0,
        'baseline calls': base ? base.calls : '-',
        baseline: !base ? 'not measured' : base.sampled < n ? `sample ${base.sampled}, scaled` : 'all',
        'baseline / controller': base ? Math.round(ratio * 10) / 10 : '-',
        goal,
        met: n === 1000 ? (ratio >= GOAL_RATIO_AT_1000 ? 'yes' : 'NO') : '',
        'pass s': Math.round(passMs / 100) / 10,
        'heroku req/pass': herokuRequests,
        'bench RSS MB': rss,
        'controller RSS MB (own process, chart heap cap)': own ? own.maxRssMb : '-',
        'controller RSS MB (no heap cap)': uncapped ? uncapped.maxRssMb : '-',
        'RSS goal (10k)': n === 10_000 ? (own && own.maxRssMb < 300 ? '< 300 MB: yes' : '< 300 MB: NO') : '',
      });
      results.push({ addons: n, controllerCalls: calls, byOperation, baseline: base, ratio, passMs, herokuRequests, rssMb: rss, controllerProcess: own, controllerProcessUncapped: uncapped, mutations: measured.mutations });
      console.log(`N=${n}: ${calls} calls (${Object.entries(byOperation).map(([k, v]) => `${k} ${v}`).join(', ')}), baseline ${base ? `${base.calls} (${base.seconds.toFixed(1)} s)` : 'not measured'}, pass ${passMs} ms`);
    }
  } finally {
    await world.close();
    await moto.stop();
    await postgres.stop();
  }
  table('Steady-state AWS calls per pass, one account (DEEP_CHECK_WINDOW 1h, one pass a minute)', rows);
  const file = writeResult('steady-state', { sizes: results, goal: { ratioAt1000: GOAL_RATIO_AT_1000 }, seconds: (Date.now() - benchStarted) / 1000 });
  console.log(`\nwritten ${file}; ${((Date.now() - benchStarted) / 1000).toFixed(0)} s; machine ${JSON.stringify(machine())}`);
}

await main();
