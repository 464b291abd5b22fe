/**
 * The console over HTTP (no browser): sign-in with an operator token and through the Heroku fake's
 * OAuth web flow, what a team admin may see and link, and the security rules: 401 without a
 * session, CSRF on every form, no session fixation, no open redirect, rate-limited sign-in, a
 * read-only token that cannot change anything, and no secret in any page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { apiTokenAuthenticator, FailureCounter } from '../../src/http/authentication.js';
import { adminApi } from '../../src/http/admin-api/admin-api.js';
import { adminConsole, externalIdFor, localPath, SESSION_COOKIE, type ConsoleDeps } from '../../src/http/console/console.js';
import type { HttpServer } from '../../src/http/listen.js';
import { startPrivateListener } from '../../src/http/private-listener.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { LatestReports } from '../../src/metrics/pass-outcome.js';
import { herokuApi, linkingFor } from '../../src/runtime.js';
import { Store } from '../../src/store/store.js';
import { BrowserSession } from '../support/browser-session.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { freshPostgresDatabase, motoAuthEnv, newMotoAuthPrincipal, type FreshDatabase, type MotoAuthPrincipal } from '../support/stand.js';

const WRONG_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYWRONG';
const INSTANCE = 'console-test';

let fake: HerokuFake;
let db: FreshDatabase;
let store: Store;
let principal: MotoAuthPrincipal;
let writer: string;
let reader: string;
let acme: string;
let beta: string;
const servers: HttpServer[] = [];
const reports: LatestReports = { latest: null, pass: null };
/** Every page any test got: none may hold a secret. */
const pages: string[] = [];
/** Every cookie value a browser held: none may show up in a page either. */
const cookieValues = new Set<string>();
let base = '';
let routes: readonly string[] = [];

async function startConsole(overrides: Partial<ConsoleDeps> = {}): Promise<string> {
  const config = loadConfig({
    DATABASE_URL: db.url,
    HEROKU_API_TOKEN: fake.token,
    HEROKU_API_URL: fake.url,
    ...motoAuthEnv(principal),
    INSTANCE_ID: INSTANCE,
  });
  const failures = overrides.failures ?? new FailureCounter({ perMinute: 1000 });
  // Completed once the listener's port is known: the OAuth client's redirect URI names it.
  const signIn = { clientId: '', clientSecret: '', identityUrl: fake.url, apiUrl: fake.url, redirectUri: '' };
  const server = await startPrivateListener(
    0,
    {
      health: { lastPassAt: () => new Date(), maxPassAgeMs: 60_000 },
      metrics: new Metrics({ processMetrics: false }),
      drift: () => reports.latest,
      authenticator: apiTokenAuthenticator(store.apiTokens),
      failures,
      plugins: [
        adminApi({ store, reports, linking: linkingFor(config, herokuApi(config)) }),
        adminConsole({
          store,
          reports,
          linking: linkingFor(config, herokuApi(config)),
          herokuSignIn: signIn,
          cookieKeys: store.box.derivedKeys('console cookies'),
          externalIdKey: store.box.derivedKeys('role external ids')[0]!,
          sessionTtlMs: 3_600_000,
          failures,
          signInsPerMinute: 1000,
          ...overrides,
        }),
      ],
    },
    '127.0.0.1',
  );
  servers.push(server);
  routes = server.routes;
  const client = fake.registerOAuthClient({ redirectUri: `${server.url}/auth/heroku/callback` });
  Object.assign(signIn, { clientId: client.id, clientSecret: client.secret, redirectUri: `${server.url}/auth/heroku/callback` });
  return server.url;
}

beforeAll(async () => {
  fake = await HerokuFake.start();
  acme = `acme-${Date.now().toString(36)}`;
  beta = `beta-${Date.now().toString(36)}`;
  fake.addTeam({ name: acme });
  fake.addTeam({ name: beta });
  fake.addUser({ email: 'alice@example.com', name: 'Alice' });
  fake.addUser({ email: 'bob@example.com', name: 'Bob' });
  fake.setTeamRole(acme, 'alice@example.com', 'admin');
  fake.setTeamRole(beta, 'alice@example.com', 'member');
  fake.setTeamRole(acme, 'bob@example.com', 'member');
  db = await freshPostgresDatabase('console');
  principal = await newMotoAuthPrincipal();
  store = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: SecretBox.generateKey() });
  writer = (await store.apiTokens.create({ name: 'ops-writer', scope: 'write', createdBy: 'test', expiresAt: null })).token;
  reader = (await store.apiTokens.create({ name: 'ops-reader', scope: 'read', createdBy: 'test', expiresAt: null })).token;
  base = await startConsole();
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await store?.close();
  await db?.drop();
  expect(fake.schemaViolations).toEqual([]);
  await fake?.stop();
});

/** Signs a browser in with an API token through the form. */
async function signInWithToken(browser: BrowserSession, token: string, next = '/teams') {
  const csrf = await browser.csrf('/login');
  const res = await browser.post('/login/token', { _csrf: csrf, token, next });
  pages.push(res.text);
  return res;
}

/** Signs a browser in through the Heroku fake as `email` (the fake skips its form for this user). */
async function signInWithHeroku(browser: BrowserSession, email: string, next = '/teams') {
  fake.signInAs(email);
  const start = await browser.get(`/auth/heroku?next=${encodeURIComponent(next)}`);
  expect(start.status).toBe(302);
  expect(start.location).toMatch(new RegExp(`^${fake.url}/oauth/authorize\\?`));
  const authorize = await browser.get(start.location!);
  expect(authorize.status).toBe(302);
  const callback = await browser.get(authorize.location!);
  pages.push(callback.text);
  return callback;
}

async function page(browser: BrowserSession, path: string) {
  const res = await browser.get(path);
  pages.push(res.text);
  for (const value of browser.cookies.values()) cookieValues.add(decodeURIComponent(value));
  return res;
}

describe('without a session', () => {
  it('every route of the private listener answers 401 to a request with no credentials, but for the few that must not', async () => {
    const open = new Set([
      'GET /healthz', 'HEAD /healthz', 'GET /readyz', 'HEAD /readyz', 'GET /metrics', 'HEAD /metrics',
      'GET /login', 'HEAD /login', 'POST /login/token', 'GET /auth/heroku', 'HEAD /auth/heroku', 'GET /auth/heroku/callback', 'HEAD /auth/heroku/callback',
      'GET /assets/console.css', 'HEAD /assets/console.css', 'GET /assets/console.js', 'HEAD /assets/console.js',
      ...['/healthz', '/readyz', '/metrics', '/drift'].flatMap((p) => ['POST', 'PUT', 'DELETE', 'PATCH'].map((m) => `${m} ${p}`)),
    ]);
    expect(routes.length).toBeGreaterThan(40);
    const answered: string[] = [];
    for (const route of routes) {
      const [method, template] = route.split(' ') as [string, string];
      const path = template.replace(':account', '123456789012').replace(/:\w+/g, 'x').replace('*', 'x');
      const res = await fetch(`${base}${path}`, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '_csrf=x' } : {}) });
      await res.arrayBuffer();
      if (open.has(route)) expect(res.status, route).not.toBe(401);
      else {
        expect(res.status, route).toBe(401);
        answered.push(route);
      }
    }
    // The admin API and the console, every method.
    expect(answered).toEqual(expect.arrayContaining(['GET /api/v1/teams', 'POST /api/v1/links', 'DELETE /api/v1/links/:team', 'GET /teams', 'POST /links', 'POST /gc/:account/approve', 'GET /journal', 'GET /drift']));
  });

  it('sends a browser that asks for an unknown page to sign in, in HTML; the API answers in JSON', async () => {
    const page = await fetch(`${base}/nope`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('<a href="/login">Sign in</a>');
    const api = await fetch(`${base}/api/v1/nope`, { headers: { accept: 'text/html' } });
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: string }).error).toMatch(/Authorization: Bearer/);
  });

  it('every console page answers 401 with the sign-in page; the sign-in page and assets are open', async () => {
    const anonymous = new BrowserSession(base);
    for (const path of ['/', '/teams', `/teams/${acme}`, '/links', '/gc', '/journal']) {
      const res = await page(anonymous, path);
      expect(res.status, path).toBe(401);
      expect(res.text).toContain('Sign in to see this page.');
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    }
    for (const path of ['/links', `/links/${acme}/unlink`, '/gc/123456789012/approve', '/logout']) {
      expect((await anonymous.post(path, { _csrf: 'x' })).status, path).toBe(401);
    }
    expect((await anonymous.get('/login')).status).toBe(200);
    expect((await anonymous.get('/assets/console.css')).status).toBe(200);
    expect((await anonymous.get('/assets/console.js')).status).toBe(200);
  });
});

describe('operators', () => {
  it('sign in with a token into a HttpOnly, Secure, SameSite=Lax, signed session cookie, and out again', async () => {
    const browser = new BrowserSession(base);
    const res = await signInWithToken(browser, writer);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/teams');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).toMatch(/; Expires=/);
    expect((await page(browser, '/teams')).status).toBe(200);
    expect((await page(browser, '/gc')).text).toContain('No breaker has tripped');

    // A tampered cookie (the id changed, the signature kept) is no session.
    const good = browser.cookies.get(SESSION_COOKIE)!;
    browser.cookies.set(SESSION_COOKIE, `A${good.slice(1)}`);
    expect((await browser.get('/teams')).status).toBe(401);
    browser.cookies.set(SESSION_COOKIE, good);

    const out = await browser.post('/logout', { _csrf: await browser.csrf('/teams') });
    expect(out.status).toBe(303);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
    // The old cookie no longer opens anything, even replayed.
    browser.cookies.set(SESSION_COOKIE, good);
    expect((await browser.get('/teams')).status).toBe(401);
  });

  it('a wrong token is refused on the form, and a revoked token ends the session it opened', async () => {
    const browser = new BrowserSession(base);
    const wrong = await signInWithToken(browser, `hs3c_000000000000_${'C'.repeat(43)}`);
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('That API token is unknown, revoked or expired.');
    const temp = await store.apiTokens.create({ name: 'temp-console', scope: 'write', createdBy: 'test', expiresAt: null });
    expect((await signInWithToken(browser, temp.token)).status).toBe(303);
    expect((await browser.get('/teams')).status).toBe(200);
    await store.apiTokens.revoke('temp-console', 'test', new Date());
    expect((await browser.get('/teams')).status).toBe(401);
  });

  it('refuses every form without its CSRF token, or with another session\'s, and changes nothing', async () => {
    const browser = new BrowserSession(base);
    await signInWithToken(browser, writer);
    const before = (await store.links.list()).length;
    const form = { team: acme, via: 'keys', accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey };
    expect((await browser.post('/links', form)).status).toBe(403);
    expect((await browser.post('/links', { ...form, _csrf: 'forged' })).status).toBe(403);
    const other = new BrowserSession(base);
    const foreign = await other.csrf('/login');
    expect((await browser.post('/links', { ...form, _csrf: foreign })).status).toBe(403);
    expect((await browser.post('/gc/123456789012/approve', { confirm: 'yes', addonIds: [] })).status).toBe(403);
    expect((await browser.post(`/links/${acme}/unlink`, {})).status).toBe(403);
    expect((await browser.post('/logout', {})).status).toBe(403);
    expect((await store.links.list()).length).toBe(before);
    expect((await browser.get('/teams')).status).toBe(200);
  });

  it('a read-only token sees everything and changes nothing', async () => {
    const browser = new BrowserSession(base);
    await signInWithToken(browser, reader);
    const links = await page(browser, '/links');
    expect(links.text).not.toContain('Check and link');
    const res = await browser.post('/links', { _csrf: await browser.csrf('/links'), team: acme, via: 'keys', accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey });
    pages.push(res.text);
    expect(res.status).toBe(403);
    expect(res.text).toContain('read-only');
    expect((await store.links.findByTeam(acme))).toBeNull();
  });
});

describe('sign-in safety', () => {
  it('goes after sign-in only to a path of this console, never to another site', async () => {
    for (const next of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', '/login', '/auth/heroku/callback', ' /teams', '/teams\n']) {
      expect(localPath(next), JSON.stringify(next)).toBe('/teams');
    }
    expect(localPath(`/teams/${acme}?x=1`)).toBe(`/teams/${acme}?x=1`);
    const browser = new BrowserSession(base);
    expect((await signInWithToken(browser, writer, '//evil.example/steal')).location).toBe('/teams');
    const viaHeroku = new BrowserSession(base);
    expect((await signInWithHeroku(viaHeroku, 'alice@example.com', 'https://evil.example/')).location).toBe('/teams');
    const kept = new BrowserSession(base);
    expect((await signInWithHeroku(kept, 'alice@example.com', `/teams/${acme}`)).location).toBe(`/teams/${acme}`);
  });

  it('gives every sign-in a new session id: a session planted in the browser before is closed, not adopted', async () => {
    // The attacker signs in (read-only) and plants their session cookie in the victim's browser.
    const attacker = new BrowserSession(base);
    await signInWithToken(attacker, reader);
    const planted = attacker.cookies.get(SESSION_COOKIE)!;
    const victim = new BrowserSession(base);
    victim.cookies.set(SESSION_COOKIE, planted);
    const signedIn = await signInWithHeroku(victim, 'alice@example.com');
    expect(signedIn.status).toBe(303);
    expect(victim.cookies.get(SESSION_COOKIE)).not.toBe(planted);
    expect((await victim.get('/teams')).text).toContain('alice@example.com');
    expect((await attacker.get('/teams')).status).toBe(401);
  });

  it('refuses a callback whose state this browser did not start, or that Heroku denied', async () => {
    const browser = new BrowserSession(base);
    fake.signInAs('alice@example.com');
    const start = await browser.get('/auth/heroku');
    const authorize = await browser.get(start.location!);
    const forged = new URL(authorize.location!);
    forged.searchParams.set('state', 'someone-else');
    const res = await browser.get(forged.pathname + forged.search);
    expect(res.status).toBe(400);
    expect(res.text).toContain('did not start here');
    // The state is single-use: the real callback after the forged one has no state left.
    expect((await browser.get(new URL(authorize.location!).pathname + new URL(authorize.location!).search)).status).toBe(400);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
    const denied = await browser.get('/auth/heroku');
    const state = new URL(denied.location!).searchParams.get('state')!;
    const refused = await browser.get(`/auth/heroku/callback?error=access_denied&state=${state}`);
    expect(refused.status).toBe(401);
    expect(refused.text).toContain('You declined the sign-in at Heroku.');
  });

  it('limits sign-in attempts per client', async () => {
    const url = await startConsole({ signInsPerMinute: 3 });
    const browser = new BrowserSession(url);
    const statuses = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await browser.post('/login/token', { _csrf: 'x', token: 'y' })).status);
    expect(statuses.slice(3)).toEqual([429, 429]);
  });
});

describe('team admins', () => {
  it('see and link only the teams Heroku says they administer; a member sees none; a role taken away since sign-in counts', async () => {
    const alice = new BrowserSession(base);
    expect((await signInWithHeroku(alice, 'alice@example.com')).location).toBe('/teams');
    const teams = await page(alice, '/teams');
    expect(teams.text).toContain(`${acme} — <a href="/links?team=${acme}">link it`);
    expect(teams.text).not.toContain(beta);
    const linksPage = await page(alice, '/links');
    expect(linksPage.text).toContain(`<option value="${acme}"`);
    expect(linksPage.text).not.toContain(beta);
    expect((await page(alice, '/gc')).status).toBe(403);
    expect((await page(alice, '/journal')).status).toBe(403);

    const csrf = await alice.csrf('/links');
    // beta: Heroku says member, not admin.
    const notAdmin = await alice.post('/links', { _csrf: csrf, team: beta, via: 'keys', accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey });
    pages.push(notAdmin.text);
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.text).toContain(`Heroku does not list you as an admin of team &quot;${beta}&quot;`);
    // A wrong secret: STS's reason on the form, the form kept (but never the secret), nothing stored.
    const wrong = await alice.post('/links', { _csrf: csrf, team: acme, via: 'keys', accessKeyId: principal.accessKeyId, secretAccessKey: WRONG_SECRET });
    pages.push(wrong.text);
    expect(wrong.status).toBe(422);
    expect(wrong.text).toMatch(/role="alert"><strong>Error:<\/strong> [^<]*(secret|signature)/i);
    expect(wrong.text).toContain(`value="${principal.accessKeyId}"`);
    expect(await store.links.findByTeam(acme)).toBeNull();

    const linked = await alice.post('/links', { _csrf: csrf, team: acme, via: 'keys', accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey });
    expect(linked.status).toBe(303);
    expect(linked.location).toBe(`/links?linked=${acme}`);
    expect((await store.links.findByTeam(acme))?.accountId).toBe(principal.accountId);
    expect((await store.journal.list({ action: 'link' })).at(-1)?.detail).toMatchObject({ actor: 'heroku:alice@example.com', team: acme });
    expect((await page(alice, `/teams/${acme}`)).status).toBe(200);
    expect((await page(alice, `/teams/${beta}`)).status).toBe(404);

    // Bob is a member of acme: he sees no team, and may not unlink it.
    const bob = new BrowserSession(base);
    await signInWithHeroku(bob, 'bob@example.com');
    const bobTeams = await page(bob, '/teams');
    expect(bobTeams.text).not.toContain(acme);
    expect((await page(bob, `/teams/${acme}`)).status).toBe(404);
    expect((await bob.post(`/links/${acme}/unlink`, { _csrf: await bob.csrf('/links') })).status).toBe(403);

    // Alice loses her admin role at Heroku: her session still lists acme, but Heroku is asked again.
    fake.setTeamRole(acme, 'alice@example.com', 'member');
    expect((await alice.post(`/links/${acme}/unlink`, { _csrf: await alice.csrf('/links') })).status).toBe(403);
    expect(await store.links.findByTeam(acme)).not.toBeNull();
    fake.setTeamRole(acme, 'alice@example.com', 'admin');
    const unlinked = await alice.post(`/links/${acme}/unlink`, { _csrf: await alice.csrf('/links') });
    expect(unlinked.status).toBe(303);
    expect(await store.links.findByTeam(acme)).toBeNull();
  });
});

describe('authorization', () => {
  it('only a write operator approves deletions, only exactly what the breaker holds, only with the box ticked', async () => {
    const accountId = `7${Date.now().toString().slice(-11)}`;
    const teamId = `team-${accountId}`;
    await store.links.save({ teamId, teamName: `gc-${accountId}`, accountId, region: null, auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/x`, externalId: null } });
    await store.gcBreakers.trip(accountId, ['held-1', 'held-2'], new Date());
    const approvedAt = async () => (await store.gcBreakers.get(accountId))?.approvedAt ?? null;

    const alice = new BrowserSession(base);
    await signInWithHeroku(alice, 'alice@example.com');
    expect((await alice.post(`/gc/${accountId}/approve`, { _csrf: await alice.csrf('/teams'), confirm: 'yes', addonIds: ['held-1', 'held-2'] })).status).toBe(403);

    const readOnly = new BrowserSession(base);
    await signInWithToken(readOnly, reader);
    const csrf = await readOnly.csrf('/gc');
    const refused = await readOnly.post(`/gc/${accountId}/approve`, { _csrf: csrf, confirm: 'yes', addonIds: ['held-1', 'held-2'] });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('read-only');
    expect((await readOnly.post(`/links/${teamId}/unlink`, { _csrf: csrf })).status).toBe(403);
    expect(await store.links.get(teamId)).not.toBeNull();

    const ops = new BrowserSession(base);
    await signInWithToken(ops, writer);
    const opsCsrf = await ops.csrf('/gc');
    const unticked = await ops.post(`/gc/${accountId}/approve`, { _csrf: opsCsrf, addonIds: ['held-1', 'held-2'] });
    expect(unticked.status).toBe(422);
    expect(unticked.text).toContain('Tick the box');
    const other = await ops.post(`/gc/${accountId}/approve`, { _csrf: opsCsrf, confirm: 'yes', addonIds: ['held-1'] });
    expect(other.status).toBe(409);
    expect(await approvedAt()).toBeNull();
    const approved = await ops.post(`/gc/${accountId}/approve`, { _csrf: opsCsrf, confirm: 'yes', addonIds: ['held-2', 'held-1'] });
    pages.push(approved.text);
    expect(approved.status).toBe(200);
    expect(approved.text).toContain('Approved: the next pass deletes the resources of 2 add-on(s)');
    expect(await approvedAt()).not.toBeNull();
    await store.links.remove(teamId);
    await store.gcBreakers.reset(accountId);
  });

  it('counts failed token sign-ins against the client: past the allowance, 429 even with a good token', async () => {
    const url = await startConsole({ failures: new FailureCounter({ perMinute: 2 }) });
    const browser = new BrowserSession(url);
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await signInWithToken(browser, `hs3c_000000000000_${'D'.repeat(43)}`)).status);
    statuses.push((await signInWithToken(browser, writer)).status);
    expect(statuses).toEqual([401, 401, 429, 429]);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
  });

  it('a team admin acts on the team Heroku vouched for, by id, never on another team that bears its name in a stale link', async () => {
    // Team "victim" was linked when it was called what Mallory's team is called now.
    const stale = `stale-${Date.now().toString(36)}`;
    const victim = fake.addTeam({ name: `victim-${Date.now().toString(36)}` });
    const mine = fake.addTeam({ name: stale });
    fake.addUser({ email: 'mallory@example.com' });
    fake.setTeamRole(mine.id, 'mallory@example.com', 'admin');
    await store.links.save({ teamId: victim.id, teamName: stale, accountId: '111122223333', region: null, auth: { kind: 'role', roleArn: 'arn:aws:iam::111122223333:role/x', externalId: null } });
    const mallory = new BrowserSession(base);
    await signInWithHeroku(mallory, 'mallory@example.com');
    const res = await mallory.post(`/links/${stale}/unlink`, { _csrf: await mallory.csrf('/links') });
    expect(res.status).toBe(404);
    expect(await store.links.get(victim.id)).not.toBeNull();
    await store.links.remove(victim.id);
  });

  it('a team admin links a role only through the external id made for the team, which the role must demand', async () => {
    const alice = new BrowserSession(base);
    await signInWithHeroku(alice, 'alice@example.com');
    const links = await page(alice, '/links');
    const team = fake.team(acme);
    const externalId = externalIdFor(store.box.derivedKeys('role external ids')[0]!, team.id);
    expect(links.text).toContain(`${acme}: <code>${externalId}</code>`);
    expect(links.text).not.toContain('id="externalId"');
    // The role in the auth stand can be assumed without an external id: refused, nothing stored.
    // (The controller assumes it with its own identity, which the AWS SDK reads from the environment.)
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = principal.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = principal.secretAccessKey;
    try {
      const res = await alice.post('/links', { _csrf: await alice.csrf('/links'), team: acme, via: 'role', roleArn: principal.assumableRoleArn, externalId: 'chosen-by-alice' });
      pages.push(res.text);
      expect(res.status).toBe(422);
      expect(res.text).toContain(`can be assumed without its external id: add the condition {&quot;StringEquals&quot;: {&quot;sts:ExternalId&quot;: &quot;${externalId}&quot;}}`);
      expect(await store.links.findByTeam(acme)).toBeNull();
    } finally {
      for (const [key, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});

describe('what a page says', () => {
  it('shows a notice only for a team name, never text of a stranger\'s choosing', async () => {
    const ops = new BrowserSession(base);
    await signInWithToken(ops, writer);
    const phishing = await page(ops, `/links?unlinked=${encodeURIComponent('everything. Your session expired: paste your API token at https://evil.example')}`);
    expect(phishing.text).not.toContain('evil.example');
    expect(phishing.text).not.toContain('role="status"');
    expect((await page(ops, `/links?linked=${acme}`)).text).toContain(`<div class="notice" role="status">Linked ${acme}:`);
  });

  it('sends a team admin whose Heroku sign-in has ended to sign in again, rather than fail', async () => {
    fake.addUser({ email: 'carol@example.com' });
    fake.setTeamRole(acme, 'carol@example.com', 'admin');
    const carol = new BrowserSession(base);
    await signInWithHeroku(carol, 'carol@example.com');
    const csrf = await carol.csrf('/links');
    fake.identity.revokeTokens('carol@example.com');
    const res = await carol.post(`/links/${acme}/unlink`, { _csrf: csrf });
    pages.push(res.text);
    expect(res.status).toBe(401);
    expect(res.text).toContain('your Heroku sign-in has expired: sign in again');
  });
});

describe('secrets', () => {
  it('no page held a secret: linked-account keys, API tokens, session ids, Heroku tokens', () => {
    expect(pages.length).toBeGreaterThan(20);
    const all = pages.join('\n');
    const herokuTokens = fake.identity.issuedSecrets;
    expect(herokuTokens.length).toBeGreaterThan(0);
    expect(cookieValues.size).toBeGreaterThan(3);
    for (const canary of [principal.secretAccessKey, WRONG_SECRET, writer, reader, ...herokuTokens, ...cookieValues]) expect(all).not.toContain(canary);
  });
});
