/**
 * The demo's sandbox, taken from the project's own test stand: a moto server standing in for S3,
 * IAM and STS (installed into .venv/moto on first use), the Heroku Platform API fake seeded with a
 * sample team, and a sandbox folder for the embedded database and its generated Fernet key.
 * Everything it starts, it stops in `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { HerokuFake, schemaPath } from '../test/support/heroku-fake/index.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SERVICE = 's3-bucket';
/** moto's default account: any key it does not know belongs to it. */
export const ACCOUNT_ID = '123456789012';

/** A demo that cannot start, with what to do about it. */
export class DemoSetupError extends Error {
  override readonly name = 'DemoSetupError';
}

export interface SampleWorld {
  team: string;
  web: string;
  worker: string;
  reviewApp: string;
  otherTeam: string;
}

export interface Sandbox {
  dir: string;
  motoUrl: string;
  /** PID of the moto server this sandbox started; null when it uses one given to it. */
  motoPid: number | null;
  fake: HerokuFake;
  world: SampleWorld;
  /** Keys of an IAM user in the sandbox account, as an administrator would give `link`. */
  linkKeys: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

export interface SandboxOptions {
  /** Sandbox folder; emptied first (the demo starts from nothing each time). */
  dir: string;
  /** Use this moto server instead of starting one (tests pass the stand's). */
  motoUrl?: string;
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  rmSync(options.dir, { recursive: true, force: true });
  mkdirSync(options.dir, { recursive: true });
  let moto: { url: string; child: ChildProcess | null } | null = null;
  let fake: HerokuFake | null = null;
  try {
    moto = options.motoUrl ? { url: options.motoUrl, child: null } : await startMoto(options.dir);
    // The fake checks its answers against Heroku's published schema when it is at hand (beside a
    // checkout of the project's shared reference data); the demo needs no such check to run.
    if (!process.env.HEROKU_PLATFORM_SCHEMA && !existsSync(schemaPath())) process.env.HEROKU_PLATFORM_SCHEMA = 'off';
    fake = await HerokuFake.start();
    const world = seed(fake);
    const linkKeys = await createLinkUser(moto.url);
    const started = { moto, fake };
    return {
      dir: options.dir,
      motoUrl: moto.url,
      motoPid: moto.child?.pid ?? null,
      fake,
      world,
      linkKeys,
      stop: () => stopAll(started.moto.child, started.fake),
    };
  } catch (err) {
    await stopAll(moto?.child ?? null, fake);
    throw err;
  }
}

async function stopAll(moto: ChildProcess | null, fake: HerokuFake | null): Promise<void> {
  await fake?.stop().catch(() => {});
  if (moto && moto.exitCode === null && moto.signalCode === null) {
    const exited = new Promise((resolve) => moto.once('exit', resolve));
    moto.kill('SIGTERM');
    const timer = setTimeout(() => moto.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Team "acme" (linked in the demo): a web app and a worker sharing one bucket, and a review app
 * with its own. Team "globex" is not linked: the controller leaves its add-on alone.
 */
function seed(fake: HerokuFake): SampleWorld {
  const world: SampleWorld = { team: 'acme', web: 'acme-web', worker: 'acme-worker', reviewApp: 'acme-web-pr-42', otherTeam: 'globex' };
  fake.addTeam({ name: world.team });
  fake.addTeam({ name: world.otherTeam });
  for (const app of [world.web, world.worker, world.reviewApp]) fake.addApp({ name: app, team: world.team });
  fake.addApp({ name: 'globex-api', team: world.otherTeam });
  const shared = fake.addAddon({ app: world.web, service: SERVICE, name: 'acme-assets', attachmentName: 'BUCKET' });
  fake.attach({ addon: shared.id, app: world.worker, name: 'BUCKET' });
  fake.addAddon({ app: world.reviewApp, service: SERVICE, name: 'acme-pr-42-assets', attachmentName: 'BUCKET' });
  fake.addAddon({ app: 'globex-api', service: SERVICE, name: 'globex-assets', attachmentName: 'BUCKET' });
  return world;
}

/** An IAM user with a key in the sandbox account: what an administrator hands to `link`. */
async function createLinkUser(motoUrl: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const iam = new IAMClient({ endpoint: motoUrl, region: 'us-east-1', credentials: { accessKeyId: 'sandbox-admin', secretAccessKey: 'sandbox-admin' } });
  try {
    await iam.send(new CreateUserCommand({ UserName: 'heroku-s3-controller-link' }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'heroku-s3-controller-link' }));
    return { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
  } finally {
    iam.destroy();
  }
}

// --- moto ----------------------------------------------------------------------------------

const MOTO_STARTUP_MS = 60_000;

async function startMoto(dir: string): Promise<{ url: string; child: ChildProcess }> {
  await installMoto();
  const bin = path.join(process.env.MOTO_VENV ?? path.join(ROOT, '.venv/moto'), 'bin/moto_server');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
  delete env.MOTO_ACCOUNT_ID;
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  const deadline = Date.now() + MOTO_STARTUP_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new DemoSetupError(`moto server exited at start (exit ${child.exitCode}):\n${stderr}`);
    try {
      const res = await fetch(`${url}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) return { url, child };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new DemoSetupError(`moto server did not answer on ${url} within ${MOTO_STARTUP_MS / 1000} s:\n${stderr}`);
}

/** scripts/stand/install-moto.sh: a no-op once installed; otherwise pip into .venv/moto. */
async function installMoto(): Promise<void> {
  const script = path.join(ROOT, 'scripts/stand/install-moto.sh');
  if (!existsSync(script)) throw new DemoSetupError(`${script} is missing: run the demo from a checkout of the project`);
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn('bash', [script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      process.stderr.write(d);
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stderr }));
  });
  if (result.code !== 0) {
    throw new DemoSetupError(
      'The demo needs moto, a local stand-in for S3, IAM and STS, and could not install it into .venv/moto ' +
        `(scripts/stand/install-moto.sh exited ${result.code}; its messages are above). It needs Python 3.9 or newer with venv and pip ` +
        '(Debian/Ubuntu: apt-get install python3 python3-venv) and access to PyPI.',
    );
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
