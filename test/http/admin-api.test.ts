/**
 * The admin API on the private listener, with real parts: PostgreSQL for the store, the Heroku
 * fake for team names, the authenticating moto server for the STS check of a link. Every answer
 * is checked against the OpenAPI document the API serves, and that document against the OpenAPI
 * 3.1 schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { adminApi } from '../../src/http/admin-api/admin-api.js';
import { apiTokenAuthenticator, FailureCounter, type Principal } from '../../src/http/authentication.js';
import type { HttpServer } from '../../src/http/listen.js';
import { startPrivateListener } from '../../src/http/private-listener.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { LatestReports } from '../../src/metrics/pass-outcome.js';
import { appResolverFor, herokuApi, linkingFor } from '../../src/runtime.js';
import type { TeamRef } from '../../src/store/session-store.js';
import { Store } from '../../src/store/store.js';
import { HerokuFake } from '../support/heroku-fake/index.js';
import { documentProblems, openApiChecker, type OpenApiChecker } from '../support/openapi.js';
import { freshPostgresDatabase, motoAuthEnv, newMotoAuthPrincipal, randomAccountId, type FreshDatabase, type MotoAuthPrincipal } from '../support/stand.js';

const WRONG_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYWRONG';
const RECORD_SECRET = 'CANARYrecordSECRETwJalrXUtnFEMI/K7MDENG/b';
const INSTANCE = 'admin-api-test';

let fake: HerokuFake;
let db: FreshDatabase;
let store: Store;
let server: HttpServer;
let checker: OpenApiChecker;
let principal: MotoAuthPrincipal;
let writer: string;
let reader: string;
let teamName: string;
const reports: LatestReports = { latest: null, pass: null };
/** A bearer token this test's authenticator takes for a team admin of `teamAdminTeams`. */
const TEAM_ADMIN_TOKEN = 'team-admin-test-token';
let teamAdminTeams: TeamRef[] = [];
/** Every body any request got back: none may hold a secret. */
const answers: string[] = [];

beforeAll(async () => {
  fake = await HerokuFake.start();
  teamName = `acme-${Date.now().toString(36)}`;
  fake.addTeam({ name: teamName });
  db = await freshPostgresDatabase('admin');
  principal = await newMotoAuthPrincipal();
  store = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: SecretBox.generateKey() });
  const config = loadConfig({
    DATABASE_URL: db.url,
    HEROKU_API_TOKEN: fake.token,
    HEROKU_API_URL: fake.url,
    ...motoAuthEnv(principal),
    INSTANCE_ID: INSTANCE,
  });
  server = await startPrivateListener(
    0,
    {
      health: { lastPassAt: () => new Date(), maxPassAgeMs: 60_000 },
      metrics: new Metrics({ processMetrics: false }),
      drift: () => reports.latest,
      authenticator: {
        // A team admin as the console's session makes one; everyone else by API token.
        fromBearerToken: async (token): Promise<Principal | null> =>
          token === TEAM_ADMIN_TOKEN
            ? { kind: 'team-admin', email: 'admin@example.com', teams: teamAdminTeams, herokuToken: 'CANARYherokuToken' }
            : apiTokenAuthenticator(store.apiTokens).fromBearerToken(token),
      },
      failures: new FailureCounter({ perMinute: 1000 }),
      plugins: [
        adminApi({
          store,
          reports,
          linking: linkingFor(config, herokuApi(config)),
          resolveApp: appResolverFor(config, herokuApi(config)),
        }),
      ],
    },
    '127.0.0.1',
  );
  writer = (await store.apiTokens.create({ name: 'ops-writer', scope: 'write', createdBy: 'test', expiresAt: null })).token;
  reader = (await store.apiTokens.create({ name: 'grafana-reader', scope: 'read', createdBy: 'test', expiresAt: null })).token;
  const res = await fetch(`${server.url}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${reader}` } });
  expect(res.status).toBe(200);
  checker = openApiChecker((await res.json()) as never);
});

afterAll(async () => {
  await server?.close();
  await store?.close();
  await db?.drop();
  expect(fake.schemaViolations).toEqual([]);
  await fake?.stop();
});

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** One request; an answer on a documented path must be one the OpenAPI document allows. */
async function call(method: string, path: string, options: { token?: string | null; body?: unknown; ip?: string } = {}): Promise<Answer> {
  const token = options.token === undefined ? reader : options.token;
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.text();
  answers.push(text);
  const body = text === '' ? null : res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text;
  if (checker && checker.templateOf(path) !== null) checker.check(method, path, res.status, body);
  return { status: res.status, body, headers: res.headers };
}

async function linkRows(): Promise<number> {
  return (await store.links.list()).length;
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document describing every route', async () => {
    expect(await documentProblems(checker.document)).toEqual([]);
    expect(Object.keys(checker.document.paths).sort()).toEqual([
      '/api/v1/drift',
      '/api/v1/gc/breakers',
      '/api/v1/gc/breakers/{account}/approve',
      '/api/v1/journal',
      '/api/v1/links',
      '/api/v1/links/{team}',
      '/api/v1/orphans',
      '/api/v1/rotations',
      '/api/v1/rotations/approve',
      '/api/v1/teams',
      '/api/v1/teams/{team}',
      '/api/v1/whoami',
    ]);
  });
});

describe('authentication', () => {
  it('answers 401 with a Bearer challenge to every route without credentials, except health and readiness', async () => {
    const paths = Object.entries(checker.document.paths).flatMap(([template, item]) =>
      Object.keys(item).map((method) => ({ method: method.toUpperCase(), path: template.replace('{account}', '123456789012').replace(/\{[^}]+\}/g, 'x') })),
    );
    expect(paths.length).toBeGreaterThanOrEqual(11);
    for (const { method, path } of [...paths, { method: 'GET', path: '/drift' }, { method: 'GET', path: '/api/v1/openapi.json' }, { method: 'GET', path: '/api/v1/nope' }, { method: 'GET', path: '/' }]) {
      const res = await call(method, path, { token: null, ...(method === 'POST' ? { body: {} } : {}) });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="heroku-s3-controller"');
      expect(res.body.error).toMatch(/token create/);
    }
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await call('GET', path, { token: null })).status, path).toBe(200);
  });

  it('refuses a revoked, an expired and a forged token; a read token may not change anything', async () => {
    const revoked = await store.apiTokens.create({ name: 'soon-revoked', scope: 'write', createdBy: 'test', expiresAt: null });
    expect((await call('GET', '/api/v1/whoami', { token: revoked.token })).body).toEqual({ kind: 'operator', name: 'soon-revoked', scope: 'write' });
    await store.apiTokens.revoke('soon-revoked', 'test', new Date());
    expect((await call('GET', '/api/v1/whoami', { token: revoked.token })).status).toBe(401);
    const expired = await store.apiTokens.create({ name: 'expired', scope: 'write', createdBy: 'test', expiresAt: new Date(Date.now() - 1000) });
    expect((await call('GET', '/api/v1/whoami', { token: expired.token })).status).toBe(401);
    // The right id with another secret.
    const forged = `${reader.slice(0, 18)}${'A'.repeat(43)}`;
    expect((await call('GET', '/api/v1/whoami', { token: forged })).status).toBe(401);

    const before = await linkRows();
    const post = await call('POST', '/api/v1/links', { token: reader, body: { team: teamName, accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey } });
    expect(post.status).toBe(403);
    expect(post.body.error).toMatch(/read-only.*--scope write/);
    expect((await call('DELETE', `/api/v1/links/${teamName}`, { token: reader })).status).toBe(403);
    expect((await call('POST', '/api/v1/gc/breakers/123456789012/approve', { token: reader, body: { addonIds: [] } })).status).toBe(403);
    expect((await call('POST', '/api/v1/rotations', { token: reader, body: { account: '123456789012' } })).status).toBe(403);
    expect((await call('POST', '/api/v1/rotations/approve', { token: reader, body: { account: '123456789012' } })).status).toBe(403);
    expect(await linkRows()).toBe(before);
  });
});

describe('links', () => {
  it('refuses a wrong secret with STS\'s reason and stores nothing; links good keys, lists and unlinks, journaled with the token', async () => {
    const wrong = await call('POST', '/api/v1/links', { token: writer, body: { team: teamName, accessKeyId: principal.accessKeyId, secretAccessKey: WRONG_SECRET } });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error).toMatch(/the secret access key does not match access key id .*: check secretAccessKey$/);
    expect(await linkRows()).toBe(0);

    const unknownTeam = await call('POST', '/api/v1/links', { token: writer, body: { team: 'no-such-team', accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey } });
    expect(unknownTeam.status).toBe(422);
    expect(unknownTeam.body.error).toMatch(/no-such-team/);

    const bad = await call('POST', '/api/v1/links', { token: writer, body: { team: teamName, roleArn: 'arn:nope' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/roleArn "arn:nope" is not an IAM role ARN/);
    expect((await call('POST', '/api/v1/links', { token: writer, body: { team: teamName } })).status).toBe(400);
    expect((await call('POST', '/api/v1/links', { token: writer, body: { team: teamName, accessKeyId: 'x', secretAccessKey: 'y', roleArn: principal.assumableRoleArn } })).status).toBe(400);
    expect(await linkRows()).toBe(0);

    const made = await call('POST', '/api/v1/links', { token: writer, body: { team: teamName, accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey, region: 'eu-west-1' } });
    expect(made.status).toBe(201);
    expect(made.body.link).toMatchObject({ teamName, accountId: principal.accountId, auth: 'keys', accessKeyId: principal.accessKeyId, region: 'eu-west-1', health: { status: 'unknown' } });
    // This user may not list its own keys: the age of the linked key is unknown, and said so.
    expect(made.body.link).toMatchObject({ accessKeyCreatedAt: null, accessKeyPastMaxAge: null });
    expect(made.body.arn).toBe(principal.userArn);

    const listed = await call('GET', '/api/v1/links');
    expect(listed.body.links.map((l: { teamName: string }) => l.teamName)).toEqual([teamName]);

    // The link's health comes from the latest pass's read of its account.
    reports.pass = { at: new Date(), teams: [], accounts: [{ accountId: principal.accountId, complete: false, error: 'AccessDenied: not authorized to perform iam:ListUsers' }] };
    expect((await call('GET', '/api/v1/links')).body.links[0].health).toMatchObject({ status: 'failing', error: expect.stringMatching(/AccessDenied/) });
    reports.pass = null;

    const gone = await call('DELETE', `/api/v1/links/${teamName}`, { token: writer });
    expect(gone.status).toBe(200);
    expect(gone.body.unlinked.teamName).toBe(teamName);
    expect((await call('DELETE', `/api/v1/links/${teamName}`, { token: writer })).status).toBe(404);
    expect(await linkRows()).toBe(0);

    const journal = await call('GET', '/api/v1/journal?actor=token:ops-writer');
    expect(journal.body.entries.map((e: { action: string; actor: string }) => [e.action, e.actor])).toEqual([
      ['link', 'token:ops-writer'],
      ['unlink', 'token:ops-writer'],
    ]);
  });
});

describe('teams, orphans and the breaker', () => {
  it('shows a team\'s add-ons with bucket, user, key, deliveries and drift; orphans with their grace; an approval deletes only what it named', async () => {
    const accountId = randomAccountId();
    const teamId = `team-${accountId}`;
    await store.links.save({ teamId, teamName: `linked-${accountId}`, accountId, region: null, auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/x`, externalId: 'CANARYexternalId' } });
    const record = (addonId: string) => addonRecord(addonId, accountId, teamId);
    await store.resources.upsert({ ...record('live1'), accessKeyCreatedAt: new Date(Date.now() - 100 * 86_400_000) });
    await store.resources.upsert(record('gone1'));
    await store.resources.upsert(record('gone2'));
    const now = Date.now();
    await store.resources.setOrphan('gone1', { since: new Date(now - 60_000), reason: 'orphaned', deleteAfter: new Date(now + 3_600_000) });
    await store.resources.setOrphan('gone2', { since: new Date(now - 60_000), reason: 'deprovisioned', deleteAfter: new Date(now - 1_000) });
    await store.deliveries.record({ addonId: 'live1', attachmentId: 'att-1', appId: 'app-live1', varNames: ['BUCKET_URL'], fingerprint: 'f', valueHashes: null });
    reports.pass = {
      at: new Date(),
      teams: [{ teamId, teamName: `linked-${accountId}`, complete: true, error: null, deprovisioned: [], addons: [{
        addonId: 'live1', addonName: 'live1-name', service: 's3-bucket', plan: 's3-bucket:private', appId: 'app-live1', appName: 'web', teamId, region: 'us-east-1', ownedConfigVars: [],
        attachments: [{ id: 'att-1', name: 'BUCKET', appId: 'app-live1', appName: 'web' }, { id: 'att-2', name: 'BUCKET', appId: 'app-2', appName: 'worker' }],
      }] }],
      accounts: [{ accountId, complete: true, error: null }],
    };
    reports.latest = {
      generatedAt: new Date().toISOString(),
      summary: { managed: 1, inSync: 0, drifted: 1, missing: 0, orphaned: 2, flapping: 0 },
      items: [{ kind: 'public-access-block-changed' as never, status: 'repairable', accountId, addonId: 'live1', resource: 'hs3-live1', field: 'publicAccessBlock.blockPublicPolicy', expected: 'true', actual: 'false' }],
    };

    const teams = await call('GET', '/api/v1/teams');
    expect(teams.body.teams.find((t: { teamId: string }) => t.teamId === teamId)).toMatchObject({ addons: 1, drifted: 1, orphans: 2, health: { status: 'ok' } });
    const team = await call('GET', `/api/v1/teams/linked-${accountId}`);
    expect(team.status).toBe(200);
    const live = team.body.addons.find((a: { addonId: string }) => a.addonId === 'live1');
    expect(live).toMatchObject({ wanted: true, appName: 'web', resourceName: 'hs3-live1', userName: 'hs3-live1', state: 'ready', orphan: null, keyPastMaxAge: true });
    expect(Date.now() - Date.parse(live.keyCreatedAt)).toBeGreaterThan(99 * 86_400_000);
    expect(live.attachments).toEqual([
      { attachmentId: 'att-1', name: 'BUCKET', appId: 'app-live1', appName: 'web', delivered: true, deliveredAt: expect.any(String) },
      { attachmentId: 'att-2', name: 'BUCKET', appId: 'app-2', appName: 'worker', delivered: false, deliveredAt: null },
    ]);
    expect(live.drift).toEqual([expect.objectContaining({ field: 'publicAccessBlock.blockPublicPolicy', expected: 'true', actual: 'false' })]);
    expect(team.body.addons.find((a: { addonId: string }) => a.addonId === 'gone1')).toMatchObject({ wanted: false, orphan: { reason: 'orphaned', heldByBreaker: false } });
    expect((await call('GET', '/api/v1/teams/no-such-team')).status).toBe(404);

    const orphans = (await call('GET', '/api/v1/orphans')).body.orphans.filter((o: { accountId: string }) => o.accountId === accountId);
    expect(orphans.map((o: { addonId: string; secondsLeft: number }) => [o.addonId, o.secondsLeft > 3500 ? 'about an hour' : o.secondsLeft])).toEqual([
      ['gone2', 0],
      ['gone1', 'about an hour'],
    ]);

    await store.gcBreakers.trip(accountId, ['gone1', 'gone2'], new Date());
    const breakers = (await call('GET', '/api/v1/gc/breakers')).body.breakers;
    expect(breakers.find((b: { accountId: string }) => b.accountId === accountId).planned.map((p: { addonId: string; resourceName: string }) => [p.addonId, p.resourceName])).toEqual([
      ['gone1', 'hs3-gone1'],
      ['gone2', 'hs3-gone2'],
    ]);
    // An approval naming anything but exactly what the breaker holds is refused, and approves nothing.
    const partial = await call('POST', `/api/v1/gc/breakers/${accountId}/approve`, { token: writer, body: { addonIds: ['gone1'] } });
    expect(partial.status).toBe(409);
    expect(partial.body.error).toMatch(/now holds 2 add-on\(s\), not the 1 approved/);
    expect((await store.gcBreakers.get(accountId))?.approvedAt).toBeNull();
    expect((await call('POST', '/api/v1/gc/breakers/999999999999/approve', { token: writer, body: { addonIds: [] } })).status).toBe(404);
    expect((await call('POST', '/api/v1/gc/breakers/nope/approve', { token: writer, body: { addonIds: [] } })).status).toBe(400);

    const approved = await call('POST', `/api/v1/gc/breakers/${accountId}/approve`, { token: writer, body: { addonIds: ['gone2', 'gone1'] } });
    expect(approved.status).toBe(200);
    expect(approved.body.approved).toEqual(['gone1', 'gone2']);
    expect((await store.gcBreakers.get(accountId))?.approvedAt).not.toBeNull();
    const journal = (await call('GET', `/api/v1/journal?action=gc-approve&account=${accountId}`)).body.entries;
    expect(journal).toEqual([expect.objectContaining({ action: 'gc-approve', actor: 'token:ops-writer', detail: expect.objectContaining({ planned: ['gone1', 'gone2'] }) })]);

    // The drift report, as /drift serves it.
    expect((await call('GET', '/api/v1/drift')).body).toEqual(reports.latest);
    reports.latest = null;
    reports.pass = null;
    expect((await call('GET', '/api/v1/drift')).status).toBe(503);
  });

  it('rejects malformed queries and bodies with a 400 naming the field', async () => {
    const res = await call('GET', '/api/v1/journal?limit=0');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/limit/);
    expect((await call('GET', '/api/v1/journal?account=12')).status).toBe(400);
    const extra = await call('POST', '/api/v1/links', { token: writer, body: { team: teamName, password: 'x' } });
    expect(extra.status).toBe(400);
  });
});

describe('key rotations', () => {
  it('plans without writing on a dry run, requests all or none journaled with the token, lists, refuses what cannot be rotated, approves', async () => {
    const accountId = randomAccountId();
    const teamId = `team-rot-${accountId}`;
    await store.links.save({ teamId, teamName: `rot-${accountId}`, accountId, region: null, auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/x`, externalId: null } });
    const app = fake.addApp({ name: `rot-web-${accountId}`, team: teamName });
    await store.resources.upsert({ ...addonRecord('rot1', accountId, teamId, app.id!), accessKeyCreatedAt: new Date(Date.now() - 10 * 86_400_000) });
    await store.resources.upsert({ ...addonRecord('rot2', accountId, teamId, app.id!), accessKeyId: null, secretAccessKey: null });
    const rows = async () => JSON.stringify(await store.rotations.list());
    const before = await rows();
    const journalBefore = (await store.journal.list({ accountId })).length;

    // A misspelt field is refused, not dropped (the rest would rotate more than was meant).
    const typo = await call('POST', '/api/v1/rotations', { token: writer, body: { adon: 'rot1', app: app.name } });
    expect(typo.status).toBe(400);
    expect(JSON.stringify(typo.body)).toContain('adon');
    expect((await call('GET', '/api/v1/rotations', { token: writer })).body).toEqual({ rotations: [] });
    expect(typo.body).toEqual({ error: 'body has an unknown field "adon"' });
    const dry = await call('POST', '/api/v1/rotations', { token: writer, body: { app: app.name, dryRun: true } });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ requested: false, selection: { by: 'app', value: app.name }, compromised: false, skipped: [{ addonId: 'rot2' }] });
    expect(dry.body.rotations).toEqual([expect.objectContaining({ addonId: 'rot1', appName: app.name, accessKeyId: 'AKIAROT1000000000000', step: 'request', trigger: 'on-demand' })]);
    expect(dry.body.rotations[0].keyAgeSeconds).toBeGreaterThan(9 * 86_400);

    for (const [body, status, error] of [
      [{}, 400, /exactly one of addon, app, team or account/],
      [{ addon: 'rot1', team: teamId }, 400, /exactly one/],
      [{ account: '12' }, 400, /account/],
      [{ addon: 'no-such-addon' }, 404, /add-on "no-such-addon" is not one this controller manages/],
      [{ app: 'no-such-app' }, 404, /Heroku app "no-such-app" was not found/],
      [{ team: 'no-such-team' }, 404, /team "no-such-team" is not linked/],
      [{ account: '999999999999' }, 404, /not linked to any team/],
      [{ addon: 'rot2' }, 409, /has no access key yet/],
    ] as const) {
      const res = await call('POST', '/api/v1/rotations', { token: writer, body });
      expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), status]);
      expect(res.body.error).toMatch(error);
    }
    expect(await rows()).toBe(before);
    expect((await store.journal.list({ accountId })).length).toBe(journalBefore);

    const made = await call('POST', '/api/v1/rotations', { token: writer, body: { team: `rot-${accountId}`, compromised: true } });
    expect(made.status).toBe(202);
    expect(made.body).toMatchObject({ requested: true, compromised: true, rotations: [{ addonId: 'rot1', trigger: 'emergency' }] });
    expect(await store.rotations.get('rot1')).toMatchObject({ trigger: 'emergency', step: 'requested', requestedBy: 'token:ops-writer', oldAccessKeyId: 'AKIAROT1000000000000' });
    const journal = (await call('GET', `/api/v1/journal?action=rotate-requested&account=${accountId}`)).body.entries;
    expect(journal).toEqual([expect.objectContaining({ addonId: 'rot1', resource: 'AKIAROT1000000000000', actor: 'token:ops-writer', detail: expect.objectContaining({ compromised: true }) })]);

    const listed = (await call('GET', '/api/v1/rotations')).body.rotations.filter((r: { accountId: string }) => r.accountId === accountId);
    expect(listed).toEqual([expect.objectContaining({ addonId: 'rot1', addonName: 'rot1-name', step: 'requested', trigger: 'emergency', oldAccessKeyId: 'AKIAROT1000000000000', newAccessKeyId: null, requestedBy: 'token:ops-writer' })]);

    // The team's page says the add-on's rotation, step and the key it retires.
    const detail = (await call('GET', `/api/v1/teams/${teamId}`)).body;
    expect(detail.addons.find((a: { addonId: string }) => a.addonId === 'rot1').rotation).toEqual({ step: 'requested', since: expect.any(String), trigger: 'emergency', oldAccessKeyId: 'AKIAROT1000000000000' });
    const again = await call('POST', '/api/v1/rotations', { token: writer, body: { addon: 'rot1' } });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/already has a rotation in flight/);

    // The rotation breaker: nothing held, then an age rotation held until approved.
    expect((await call('POST', '/api/v1/rotations/approve', { token: writer, body: { account: accountId } })).status).toBe(404);
    expect((await call('POST', '/api/v1/rotations/approve', { token: writer, body: { account: 'nope' } })).status).toBe(400);
    await store.resources.upsert(addonRecord('rot3', accountId, teamId, app.id!));
    await store.rotations.start({ addonId: 'rot3', accountId, oldAccessKeyId: 'AKIAROT3000000000000', trigger: 'age', requestedBy: 'controller' }, new Date());
    const approved = await call('POST', '/api/v1/rotations/approve', { token: writer, body: { account: accountId } });
    expect(approved.status).toBe(200);
    expect(approved.body).toEqual({ account: accountId, approved: 1 });
    expect((await store.rotations.get('rot3'))?.approvedAt).not.toBeNull();
    expect((await call('GET', `/api/v1/journal?action=rotate-approve&account=${accountId}`)).body.entries).toEqual([
      expect.objectContaining({ actor: 'token:ops-writer', detail: expect.objectContaining({ approved: 1 }) }),
    ]);
  });

  it('a team admin rotates and sees only the add-ons of their own teams', async () => {
    const accountId = randomAccountId();
    const mine = { id: `team-mine-${accountId}`, name: `mine-${accountId}` };
    const theirs = { id: `team-theirs-${accountId}`, name: `theirs-${accountId}` };
    teamAdminTeams = [mine];
    for (const team of [mine, theirs]) {
      await store.links.save({ teamId: team.id, teamName: team.name, accountId, region: null, auth: { kind: 'role', roleArn: `arn:aws:iam::${accountId}:role/x`, externalId: null } });
    }
    await store.resources.upsert(addonRecord('mine1', accountId, mine.id, 'app-mine'));
    await store.resources.upsert(addonRecord('theirs1', accountId, theirs.id, 'app-theirs'));
    await store.rotations.start({ addonId: 'theirs1', accountId, oldAccessKeyId: 'AKIATHEIRS1000000000', trigger: 'age', requestedBy: 'controller' }, new Date());
    const before = JSON.stringify(await store.rotations.list());
    const admin = { token: TEAM_ADMIN_TOKEN };

    for (const body of [{ addon: 'theirs1' }, { team: theirs.name }, { account: accountId }]) {
      const res = await call('POST', '/api/v1/rotations', { ...admin, body });
      expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), 403]);
      expect(res.body.error).toMatch(/outside the teams you administer/);
    }
    const approve = await call('POST', '/api/v1/rotations/approve', { ...admin, body: { account: accountId } });
    expect(approve.status).toBe(403);
    expect(JSON.stringify(await store.rotations.list())).toBe(before);
    // Not even the other team's rotation is shown.
    expect((await call('GET', '/api/v1/rotations', admin)).body.rotations).toEqual([]);

    const made = await call('POST', '/api/v1/rotations', { ...admin, body: { addon: 'mine1-name' } });
    expect(made.status).toBe(202);
    expect(await store.rotations.get('mine1')).toMatchObject({ requestedBy: 'heroku:admin@example.com', trigger: 'on-demand' });
    expect((await call('GET', '/api/v1/rotations', admin)).body.rotations.map((r: { addonId: string }) => r.addonId)).toEqual(['mine1']);
  });
});

/** A stored add-on with its key (secret RECORD_SECRET), as a pass leaves it. */
function addonRecord(addonId: string, accountId: string, teamId: string, appId = `app-${addonId}`) {
  return {
    addonId,
    addonName: `${addonId}-name`,
    accountId,
    teamId,
    appId,
    plan: 's3-bucket:private',
    kind: 'bucket',
    resourceName: `hs3-${addonId}`,
    region: 'us-east-1',
    userName: `hs3-${addonId}`,
    accessKeyId: `AKIA${addonId.toUpperCase()}`.padEnd(20, '0'),
    secretAccessKey: RECORD_SECRET,
    resourceCreateStartedAt: null,
    state: 'ready' as const,
    lastError: null,
  };
}

describe('abuse', () => {
  it('answers 429 to a client after repeated failed authentications, valid token or not, until its minute is over', async () => {
    let now = 0;
    const guarded = await startPrivateListener(
      0,
      {
        health: { lastPassAt: () => null, maxPassAgeMs: 60_000 },
        metrics: new Metrics({ processMetrics: false }),
        drift: () => null,
        authenticator: apiTokenAuthenticator(store.apiTokens),
        failures: new FailureCounter({ perMinute: 3, now: () => now }),
      },
      '127.0.0.1',
    );
    try {
      const drift = async (token: string) => (await fetch(`${guarded.url}/drift`, { headers: { authorization: `Bearer ${token}` } })).status;
      const guess = `hs3c_000000000000_${'B'.repeat(43)}`;
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push(await drift(guess));
      expect(statuses).toEqual([401, 401, 401, 429]);
      expect(await drift(reader)).toBe(429);
      expect((await fetch(`${guarded.url}/healthz`)).status).toBe(200);
      now += 60_000;
      expect(await drift(reader)).toBe(503);
    } finally {
      await guarded.close();
    }
  });
});

describe('secrets', () => {
  it('no answer held a secret: linked keys, record keys, external ids or tokens', () => {
    expect(answers.length).toBeGreaterThan(40);
    const all = answers.join('\n');
    for (const canary of [principal.secretAccessKey, WRONG_SECRET, RECORD_SECRET, 'CANARYexternalId', 'CANARYherokuToken', writer, reader]) expect(all).not.toContain(canary);
  });
});
