/**
 * `npm run demo` as a newcomer runs it: the demo starts its own moto and Heroku fake, tells the
 * story, keeps running; the test checks the story's claims against the sandbox's moto itself (not
 * only against what the demo reports), then stops the demo with Ctrl-C (SIGINT) and checks that
 * every process it started is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { GetUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { afterAll, describe, expect, it } from 'vitest';
import type { StoryEvidence } from '../../demo/story.js';
import { motoUrl } from '../support/stand.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'hsc-demo-test-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, ms: number, read: () => T | null): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Ends the demo and whatever it started, if still running: tsx runs demo/main.ts in a child process
 * of its own, which starts moto, so killing the process the test spawned would leave those behind
 * (as after a test that timed out on a slow machine). The demo runs in a process group of its own.
 */
function killDemo(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

async function missing(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404 || /NoSuchEntity|NotFound/.test((err as Error).name);
  }
}

describe('npm run demo', () => {
  it('with DEMO_EXIT_AFTER_STORY=1, tells the story and ends by itself with exit 0 (here on the stand\'s moto, so what it made can be checked after)', async () => {
    const storyDir = mkdtempSync(path.join(os.tmpdir(), 'hsc-demo-exit-'));
    let spawned: ChildProcess | undefined;
    try {
      const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'demo/main.ts', '--dir', storyDir, '--port', String(await freePort())], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, DEMO_EXIT_AFTER_STORY: '1', DEMO_MOTO_URL: motoUrl() },
        detached: true, // a process group of its own, for killDemo
      });
      spawned = child;
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code, out).toBe(0);
      expect(out).toContain('[6/6] Where to look');
      expect(out).toContain('Demo stopped');
      const evidence = JSON.parse(readFileSync(path.join(storyDir, 'story.json'), 'utf8')) as StoryEvidence;
      const sandbox = JSON.parse(readFileSync(path.join(storyDir, 'sandbox.json'), 'utf8')) as { pid: number; motoPid: number | null };
      expect(sandbox.motoPid).toBeNull(); // it used the moto it was given, and started none
      expect(alive(sandbox.pid)).toBe(false);
      const s3 = new S3Client({ endpoint: motoUrl(), region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test-reader', secretAccessKey: 'test-reader' } });
      await s3.send(new HeadBucketCommand({ Bucket: evidence.buckets['acme-assets']! }));
      expect(await missing(() => s3.send(new HeadBucketCommand({ Bucket: evidence.buckets['acme-pr-42-assets']! })))).toBe(true);
      s3.destroy();
      expect(evidence.drift).toMatchObject({ repaired: true });
    } finally {
      if (spawned) killDemo(spawned);
      rmSync(storyDir, { recursive: true, force: true });
    }
  }, 240_000);

  it('tells the whole story, verifiably, and stops everything it started on Ctrl-C', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'demo/main.ts', '--dir', dir, '--port', String(port), '--resync', '60'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: 'true' },
      detached: true, // a process group of its own, for killDemo
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const evidence = await until('the story', 200_000, () => {
        if (child.exitCode !== null) throw new Error(`the demo exited early (${child.exitCode}):\n${out}`);
        return existsSync(path.join(dir, 'story.json')) ? (JSON.parse(readFileSync(path.join(dir, 'story.json'), 'utf8')) as StoryEvidence) : null;
      });
      const sandbox = JSON.parse(readFileSync(path.join(dir, 'sandbox.json'), 'utf8')) as { motoPid: number; motoUrl: string };
      expect(alive(sandbox.motoPid)).toBe(true);

      // What the story says, checked against the sandbox's AWS directly.
      const credentials = { accessKeyId: 'test-reader', secretAccessKey: 'test-reader' }; // moto's default account
      const s3 = new S3Client({ endpoint: sandbox.motoUrl, region: 'us-east-1', forcePathStyle: true, credentials });
      const iam = new IAMClient({ endpoint: sandbox.motoUrl, region: 'us-east-1', credentials });
      const kept = evidence.buckets['acme-assets']!;
      const collected = evidence.buckets['acme-pr-42-assets']!;
      await s3.send(new HeadBucketCommand({ Bucket: kept }));
      await iam.send(new GetUserCommand({ UserName: evidence.users['acme-assets']! }));
      expect(await missing(() => s3.send(new HeadBucketCommand({ Bucket: collected })))).toBe(true);
      expect(await missing(() => iam.send(new GetUserCommand({ UserName: evidence.users['acme-pr-42-assets']! })))).toBe(true);
      s3.destroy();
      iam.destroy();

      // Credentials in the fake on every attachment app, and a real key.
      const five = ['BUCKET_AWS_ACCESS_KEY_ID', 'BUCKET_AWS_REGION', 'BUCKET_AWS_SECRET_ACCESS_KEY', 'BUCKET_BUCKET_NAME', 'BUCKET_URL'];
      for (const app of ['acme-web', 'acme-worker', 'acme-web-pr-42']) expect(evidence.credentialsDelivered[app], app).toEqual(five);
      expect(evidence.deliveredKeyIdentity).toBe(`arn:aws:iam::123456789012:user/heroku-s3-controller/${evidence.users['acme-assets']}`);
      expect(evidence.unlinkedTeamUntouched).toBe(true);

      // The drift seen, then repaired.
      expect(evidence.drift.seen).toEqual(
        expect.arrayContaining([expect.stringMatching(new RegExp(`^public-access-block-changed ${kept}`)), expect.stringMatching(/^config-vars-missing acme-worker .*BUCKET_AWS_SECRET_ACCESS_KEY/)]),
      );
      expect(evidence.drift).toMatchObject({ repaired: true, publicAccessBlockRestored: true, configVarRestored: true });
      expect(evidence.reviewApp).toMatchObject({ bucketGone: true, userGone: true });
      expect(evidence.reviewApp.orphanedAt).not.toBeNull();

      // The controller's endpoints answer while the demo runs.
      expect(evidence.urls.drift).toBe(`http://127.0.0.1:${port}/drift`);
      expect((await fetch(evidence.urls.drift)).status).toBe(401);
      const drift = (await (await fetch(evidence.urls.drift, { headers: { authorization: `Bearer ${evidence.readToken}` } })).json()) as { summary: { managed: number; drifted: number } };
      expect(drift.summary).toMatchObject({ managed: 1, drifted: 0 });
      expect(await (await fetch(evidence.urls.metrics)).text()).toMatch(/^heroku_s3_controller_managed_resources\{/m);

      // The narration a newcomer reads; never a secret in it.
      for (const heading of ['[1/6]', '[2/6]', '[3/6]', '[4/6]', '[5/6]', '[6/6]']) expect(out).toContain(heading);
      expect(out).not.toMatch(/BUCKET_AWS_SECRET_ACCESS_KEY=|"secretAccessKey"/);

      // Ctrl-C: exit 0, and moto and the HTTP server are gone.
      child.kill('SIGINT');
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 60_000))])).toBe(0);
      expect(out).toContain('Demo stopped');
      await until('moto to exit', 5_000, () => (alive(sandbox.motoPid) ? null : true));
      await expect(fetch(evidence.urls.drift)).rejects.toThrow();
    } finally {
      killDemo(child);
    }
  }, 300_000);
});
