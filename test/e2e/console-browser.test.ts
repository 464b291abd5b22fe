/**
 * The console in real Chromium (Debian's, driven by playwright-core), against the real `serve`
 * process, the Heroku fake (with its OAuth authorize page) and the authenticating moto server:
 *
 *   a team admin signs in through Heroku, links their team (a wrong secret shows STS's refusal and
 *   stores nothing), sees the add-on's bucket appear after a pass, sees a drift appear and be
 *   repaired; an operator sees a GC breaker trip and approves it, which deletes exactly the held
 *   resources; a member who is not an admin can neither see nor link the team.
 *
 * Along the way: labels on every field, keyboard-only use of the link form, text contrast, a phone
 * layout, and no secret in any page or in the controller's log. Screenshots of each page go to
 * .stand/screenshots/, and to docs/console/ with UPDATE_SCREENSHOTS=1 (those are committed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeletePublicAccessBlockCommand, GetPublicAccessBlockCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { Store } from '../../src/store/store.js';
import { CLI_PATH } from '../support/cli.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { chromiumPath, freshPostgresDatabase, motoAuthAdmin, motoAuthUrl, newMotoAuthPrincipal, type FreshDatabase, type MotoAuthAdmin, type MotoAuthPrincipal } from '../support/stand.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs/console') : path.join(ROOT, '.stand/screenshots');
const SERVICE = 's3-bucket';
const WRONG_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYWRONG';
/** Only a failure waits this long; a passing run moves on as soon as the page shows it. */
const PATIENCE_MS = 120_000;

let fake: HerokuFake;
let db: FreshDatabase;
let principal: MotoAuthPrincipal;
/** An IAM user allowed everything in its account of the auth stand: the keys the team admin links. */
let admin: MotoAuthAdmin;
let store: Store;
let serve: ChildProcess | null = null;
let log = '';
let browser: Browser;
let base: string;
let team: string;
let operatorToken: string;
const instanceId = `console-${randomBytes(3).toString('hex')}`;
/** Every page's HTML as the browser had it: none may hold a secret. */
const seen: string[] = [];
/** The console's cookies the browsers held (sessions, CSRF secrets): never in a page or a log line. */
const cookieValues = new Set<string>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; controller log:\n${log.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function shot(page: Page, name: string): Promise<void> {
  seen.push(await page.content());
  for (const c of await page.context().cookies(base)) cookieValues.add(decodeURIComponent(c.value));
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Reloads `url` until its text matches. */
async function reloadUntil(page: Page, url: string, pattern: RegExp, what: string): Promise<void> {
  await until(what, async () => {
    await page.goto(url);
    return pattern.test(await page.locator('main').innerText());
  });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const executablePath = chromiumPath();
  fake = await HerokuFake.start();
  team = `acme-${randomBytes(2).toString('hex')}`;
  const t = fake.addTeam({ name: team });
  fake.addApp({ name: `${team}-web`, team: t.id });
  fake.addApp({ name: `${team}-pr-1`, team: t.id });
  fake.addApp({ name: `${team}-pr-2`, team: t.id });
  fake.addAddon({ app: `${team}-web`, service: SERVICE, attachmentName: 'BUCKET' });
  fake.addUser({ email: 'admin@acme.example', name: 'Ada Admin' });
  fake.addUser({ email: 'dev@acme.example', name: 'Dev Member' });
  fake.setTeamRole(team, 'admin@acme.example', 'admin');
  fake.setTeamRole(team, 'dev@acme.example', 'member');
  db = await freshPostgresDatabase('console_browser');
  principal = await newMotoAuthPrincipal();
  admin = motoAuthAdmin();
  const fernetKey = SecretBox.generateKey();
  store = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: fernetKey });
  operatorToken = (await store.apiTokens.create({ name: 'ops', scope: 'write', createdBy: 'test', expiresAt: null })).token;

  const port = await freePort();
  base = `http://localhost:${port}`;
  const client = fake.registerOAuthClient({ redirectUri: `${base}/auth/heroku/callback` });
  serve = spawn(process.execPath, [CLI_PATH, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_NO_WARNINGS: '1',
      PORT: String(port),
      PUBLIC_PORT: '0',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      FERNET_KEYS: fernetKey,
      INSTANCE_ID: instanceId,
      HEROKU_API_TOKEN: fake.token,
      HEROKU_API_URL: fake.url,
      HEROKU_OAUTH_URL: fake.url,
      HEROKU_OAUTH_ID: client.id,
      HEROKU_OAUTH_SECRET: client.secret,
      CONSOLE_URL: base,
      ADDON_SERVICES: SERVICE,
      // The authenticating moto: a wrong secret is refused as AWS would.
      AWS_ENDPOINT_URL: motoAuthUrl(),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: principal.accessKeyId,
      AWS_SECRET_ACCESS_KEY: principal.secretAccessKey,
      LEADER_ELECTION: 'none',
      RESYNC_SCHEDULE: '*/2 * * * * *',
      DEEP_CHECK_WINDOW: '0',
      GC_GRACE_DEPROVISIONED: '0s',
      GC_GRACE_ORPHANED: '0s',
      GC_MAX_DELETIONS: '1',
      GC_BREAKER_MIN_DELETIONS: '2',
      AWS_IAM_MUTATIONS_PER_SECOND: '1000',
      AWS_S3_MUTATIONS_PER_SECOND: '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  serve.stdout!.on('data', (d) => (log += d));
  serve.stderr!.on('data', (d) => (log += d));
  await until('the controller to serve', async () => /"reason":"serving"/.test(log));
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  serve?.kill('SIGTERM');
  await new Promise((r) => (serve && serve.exitCode === null ? serve.once('exit', r) : r(null)));
  await store?.close();
  await db?.drop();
  expect(fake?.schemaViolations ?? []).toEqual([]);
  await fake?.stop();
});

/** Signs in through the fake's authorize page, as a person would: the email, then Allow. */
async function signInWithHeroku(page: Page, email: string): Promise<void> {
  await page.goto(`${base}/teams`);
  await page.getByRole('link', { name: 'Sign in with Heroku' }).click();
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(`${base}/teams`);
}

/** S3 in the linked account, as the IAM user whose keys the team admin linked. */
function s3InLinkedAccount(): S3Client {
  return new S3Client({ endpoint: motoAuthUrl(), region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey } });
}

/** The add-on records the controller keeps, by add-on name. */
async function bucketsByAddon(): Promise<Map<string, string>> {
  const records = await store.resources.listAll();
  return new Map(records.filter((r) => r.resourceName !== null).map((r) => [r.addonName, r.resourceName!]));
}

/** Run in the page: every visible field has a label; every text has 4.5:1 contrast or more (WCAG AA). */
const ACCESSIBILITY_CHECK = `(() => {
    const out = [];
    for (const el of Array.from(document.querySelectorAll('input, select, textarea'))) {
      if (el.type === 'hidden') continue;
      if (!el.labels || el.labels.length === 0) out.push(\`no label: \${el.outerHTML}\`);
    }
    const rgb = (text) => (text.match(/[0-9.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]) => {
      const c = [r, g, b].map((v) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c;
      }
      return [255, 255, 255];
    };
    for (const el of Array.from(document.querySelectorAll('main *, header *'))) {
      const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim() !== '');
      if (!own || el.offsetParent === null) continue;
      const fg = rgb(getComputedStyle(el).color);
      const bg = background(el);
      const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      if (ratio < 4.5) out.push(\`contrast \${ratio.toFixed(2)}:1 for "\${el.textContent.trim().slice(0, 40)}"\`);
    }
    return out;
  })()`;

/** Every visible form control has a label, and every text has at least 4.5:1 contrast on its background. */
async function checkAccessibility(page: Page): Promise<void> {
  const problems = (await page.evaluate(ACCESSIBILITY_CHECK)) as string[];
  expect(problems, page.url()).toEqual([]);
}

describe('the console in Chromium', () => {
  it('the accessibility check finds a missing label and low contrast (it can fail)', async () => {
    const page = await browser.newPage();
    await page.setContent('<main><p style="color:#b0b0b0">faint</p><input id="unlabelled" type="text"><label for="ok">OK</label><input id="ok"></main>');
    const problems = (await page.evaluate(ACCESSIBILITY_CHECK)) as string[];
    expect(problems).toEqual([expect.stringMatching(/^no label: <input id="unlabelled"/), expect.stringMatching(/^contrast 2\.\d+:1 for "faint"/)]);
    await page.close();
  });

  it('a team admin signs in through Heroku, links the team (a wrong secret first), and sees the bucket, then a drift come and go', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${base}/teams`);
    expect(await page.locator('h1').innerText()).toBe('Sign in');
    await checkAccessibility(page);
    await shot(page, 'sign-in');

    await signInWithHeroku(page, 'admin@acme.example');
    expect(await page.locator('main').innerText()).toContain(`${team} — link it to an AWS account`);
    await shot(page, 'teams-before-link');
    await page.getByRole('link', { name: 'link it to an AWS account' }).click();

    // Keyboard only: the form is reachable and usable without a pointer.
    await page.getByLabel('Access key id').focus();
    await page.keyboard.type(principal.accessKeyId);
    await page.keyboard.press('Tab');
    await page.keyboard.type(WRONG_SECRET);
    await page.keyboard.press('Enter');
    await page.waitForLoadState('load');
    const alert = page.getByRole('alert');
    expect(await alert.innerText()).toMatch(/^Error: the secret access key does not match access key id \w+: check the secret access key$/);
    expect(await store.links.findByTeam(team)).toBeNull();
    expect(await page.getByLabel('Access key id').inputValue()).toBe(principal.accessKeyId);
    expect(await page.getByLabel('Secret access key').inputValue()).toBe('');
    await checkAccessibility(page);
    await shot(page, 'links-error');

    // A role is linked only through the external id made for the team, which it must demand:
    // this one (a stand role) lets the controller in without one, so it is refused.
    expect(await page.locator('#external-ids').innerText()).toMatch(new RegExp(`${team}: hs3c-[\\w-]{32}`));
    await page.getByLabel('A role to assume').check();
    await page.getByLabel('Role ARN').fill(principal.assumableRoleArn);
    await page.getByRole('button', { name: 'Check and link' }).click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('alert').innerText()).toMatch(/can be assumed without its external id: add the condition .*sts:ExternalId/);
    expect(await store.links.findByTeam(team)).toBeNull();

    // Keys of the team's AWS account: linked.
    await page.getByLabel('Access keys of an IAM user').check();
    await page.getByLabel('Access key id').fill(admin.accessKeyId);
    await page.getByLabel('Secret access key').fill(admin.secretAccessKey);
    await page.getByRole('button', { name: 'Check and link' }).click();
    await page.waitForURL(/\/links\?linked=/);
    expect(await page.getByRole('status').innerText()).toContain(`Linked ${team}`);
    expect((await store.links.findByTeam(team))?.accountId).toBe(admin.accountId);
    await shot(page, 'links');

    // The next passes make the bucket; the team page shows it, delivered, in sync.
    await reloadUntil(page, `${base}/teams/${team}`, /ready[\s\S]*delivered[\s\S]*in sync/, 'the bucket to be made and delivered');
    const bucket = (await bucketsByAddon()).values().next().value as string;
    expect(await page.locator('#addons').innerText()).toContain(bucket);
    await checkAccessibility(page);
    await shot(page, 'team');

    // Someone turns Block Public Access off: a pass reports it (and repairs it).
    const s3 = s3InLinkedAccount();
    try {
      await s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
      await reloadUntil(page, `${base}/teams/${team}`, /publicAccessBlock: expected \{[^\n]*found —/, 'the drift to show');
      await shot(page, 'team-drift');
      await reloadUntil(page, `${base}/teams/${team}`, /in sync/, 'the drift to be repaired');
      const pab = await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
      expect(Object.values(pab.PublicAccessBlockConfiguration ?? {}).every((v) => v === true)).toBe(true);
    } finally {
      s3.destroy();
    }

    // On a phone.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, storageState: await context.storageState() });
    const small = await phone.newPage();
    await small.goto(`${base}/teams/${team}`);
    expect(await small.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1')).toBe(true);
    await shot(small, 'team-phone');
    await phone.close();

    // The admin may not see garbage collection or the journal.
    expect((await page.goto(`${base}/gc`))?.status()).toBe(403);
    expect((await page.goto(`${base}/journal`))?.status()).toBe(403);
    await context.close();
  }, 5 * PATIENCE_MS);

  it('a member who is not an admin can neither see nor link the team', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInWithHeroku(page, 'dev@acme.example');
    expect(await page.locator('main').innerText()).not.toContain(team);
    expect((await page.goto(`${base}/teams/${team}`))?.status()).toBe(404);
    await page.goto(`${base}/links`);
    expect(await page.locator('main').innerText()).not.toContain(team);
    expect(await page.locator('select#team option').count()).toBe(0);
    seen.push(await page.content());
    await context.close();
  }, PATIENCE_MS);

  it('an operator sees the GC breaker trip, and its approval deletes exactly the held resources', async () => {
    // Two review apps get buckets, then both add-ons go at once: two deletions trip the breaker.
    const pr1 = fake.addAddon({ app: `${team}-pr-1`, service: SERVICE, attachmentName: 'BUCKET' });
    const pr2 = fake.addAddon({ app: `${team}-pr-2`, service: SERVICE, attachmentName: 'BUCKET' });
    await until('the review apps\' buckets', async () => (await bucketsByAddon()).size === 3);
    const buckets = await bucketsByAddon();
    const kept = buckets.get([...buckets.keys()].find((name) => name !== pr1.name && name !== pr2.name)!)!;
    const held = [buckets.get(pr1.name)!, buckets.get(pr2.name)!];
    fake.destroyAddon(pr1.id);
    fake.destroyAddon(pr2.id);

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.getByLabel('API token').fill(operatorToken);
    await page.getByRole('button', { name: 'Sign in with a token' }).click();
    await page.waitForURL(`${base}/teams`);
    await reloadUntil(page, `${base}/gc`, /Held back: the resources of 2 add-on\(s\)/, 'the breaker to trip');
    const text = await page.locator('main').innerText();
    for (const name of held) expect(text).toContain(name);
    await checkAccessibility(page);
    await shot(page, 'gc');

    // The approval names what it deletes, and needs the box ticked.
    const approve = page.getByRole('button', { name: 'Approve deleting 2 add-on(s)' });
    const confirm = page.getByLabel(new RegExp(`the next pass deletes .*${held[0]}`));
    const gcUrl = page.url();
    await approve.click();
    // The browser itself held the form back: the box is required, and nothing was sent.
    expect(await confirm.evaluate((el) => (el as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing)).toBe(true);
    expect(page.url()).toBe(gcUrl);
    expect(await page.getByRole('alert').count()).toBe(0);
    expect((await store.gcBreakers.list()).find((b) => b.approvedAt !== null)).toBeUndefined();
    await confirm.check();
    await approve.click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('status').innerText()).toContain('Approved: the next pass deletes the resources of 2 add-on(s)');

    const s3 = s3InLinkedAccount();
    try {
      const exists = async (bucket: string) => s3.send(new HeadBucketCommand({ Bucket: bucket })).then(() => true, () => false);
      await until('the held buckets to be deleted', async () => !(await exists(held[0]!)) && !(await exists(held[1]!)));
      expect(await exists(kept)).toBe(true);
    } finally {
      s3.destroy();
    }
    await reloadUntil(page, `${base}/gc`, /No breaker has tripped/, 'the breaker to reset');

    await page.goto(`${base}/journal?action=gc-approve`);
    expect(await page.locator('main').innerText()).toContain('token:ops');
    await shot(page, 'journal');
    await context.close();
  }, 5 * PATIENCE_MS);

  it('no page and no log line held a secret', () => {
    expect(seen.length).toBeGreaterThan(8);
    const pages = seen.join('\n');
    expect(cookieValues.size).toBeGreaterThan(2);
    for (const canary of [principal.secretAccessKey, admin.secretAccessKey, WRONG_SECRET, operatorToken, ...fake.identity.issuedSecrets, ...cookieValues]) {
      expect(pages).not.toContain(canary);
      expect(log).not.toContain(canary);
    }
  });
});
