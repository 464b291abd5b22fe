/**
 * The Heroku fake's Platform API answered as a signed-in user (a token from the OAuth web flow):
 * the user's account, only the user's teams with the user's role in each, team members, 403 for
 * teams the user is not in, scopes, and the controller's own token seeing everything as before.
 * Every answer is checked against the schema (the per-test hook ends on `schemaViolations`).
 */
import Heroku from 'heroku-client';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Account, App, HerokuFake, OAuthClient, Team, TeamMember } from '../support/heroku-fake/index.js';
import { validate, validateList } from '../support/heroku-fake/index.js';
import { authorizeUrl, herokuAs, noFollow, oauthFakePerTest, tokenRequest } from './oauth-support.js';

const per = oauthFakePerTest();
let fake: HerokuFake;
let client: OAuthClient;
let operator: Heroku;

beforeEach(() => {
  fake = per.fake;
  operator = new Heroku({ token: fake.token, host: fake.url });
  client = fake.registerOAuthClient({ redirectUri: 'https://console.example.com/auth/heroku/callback' });
  fake.addTeam({ name: 'acme' });
  fake.addTeam({ name: 'globex' });
  fake.addTeam({ name: 'initech' });
  fake.addApp({ name: 'acme-web', team: 'acme' });
  fake.addApp({ name: 'globex-web', team: 'globex' });
  fake.addApp({ name: 'initech-web', team: 'initech' });
  fake.addAddon({ app: 'acme-web', service: 's3-bucket' });
  fake.addAddon({ app: 'initech-web', service: 's3-bucket' });
  for (const [email, name] of [
    ['ada@example.com', 'Ada Admin'],
    ['max@example.com', 'Max Member'],
    ['vic@example.com', null],
    ['cole@example.com', 'Cole Collaborator'],
    ['nora@example.com', 'Nora Nobody'],
  ] as const) {
    fake.addUser({ email, name });
  }
  fake.setTeamRole('acme', 'ada@example.com', 'admin');
  fake.setTeamRole('globex', 'ada@example.com', 'member');
  fake.setTeamRole('acme', 'max@example.com', 'member');
  fake.setTeamRole('acme', 'vic@example.com', 'viewer');
  fake.setTeamRole('globex', 'vic@example.com', 'admin');
  fake.setTeamRole('acme', 'cole@example.com', 'collaborator');
});

/** Signs the user in through the whole web flow (signInAs, authorize, token) and returns heroku-client on the token. */
async function signIn(email: string, scope = 'read'): Promise<Heroku> {
  fake.signInAs(email);
  const step = await noFollow(authorizeUrl(fake, { client_id: client.id, response_type: 'code', scope, state: 's' }));
  const code = new URL(step.location!).searchParams.get('code')!;
  const token = await tokenRequest(fake, { grant_type: 'authorization_code', code, client_secret: client.secret });
  expect(token.status).toBe(200);
  return herokuAs(fake, token.body.access_token as string);
}

const roles = (teams: Team[]) => Object.fromEntries(teams.map((t) => [t.name, t.role]));

describe('GET /teams as a user: only their teams, with their role', () => {
  it('reports admin, member, viewer and collaborator as Heroku says them', async () => {
    expect(roles((await (await signIn('ada@example.com')).get('/teams')) as Team[])).toEqual({ acme: 'admin', globex: 'member' });
    expect(roles((await (await signIn('max@example.com')).get('/teams')) as Team[])).toEqual({ acme: 'member' });
    expect(roles((await (await signIn('vic@example.com')).get('/teams')) as Team[])).toEqual({ acme: 'viewer', globex: 'admin' });
    expect(roles((await (await signIn('cole@example.com')).get('/teams')) as Team[])).toEqual({ acme: 'collaborator' });
    expect(await (await signIn('nora@example.com')).get('/teams')).toEqual([]);
  });

  it('GET /teams/{team} shows the user’s role; another team is 403 forbidden, an unknown one 404', async () => {
    const max = await signIn('max@example.com');
    const acme = (await max.get('/teams/acme')) as Team;
    expect(validate('team', acme)).toEqual([]);
    expect(acme).toMatchObject({ name: 'acme', role: 'member' });
    await expect(max.get('/teams/globex')).rejects.toMatchObject({
      statusCode: 403,
      body: { id: 'forbidden', message: 'You do not have access to the team globex.' },
    });
    await expect(max.get('/teams/nope')).rejects.toMatchObject({ statusCode: 404, body: { id: 'not_found' } });
  });

  it('follows role changes and removals', async () => {
    const vic = await signIn('vic@example.com');
    fake.setTeamRole('acme', 'vic@example.com', 'admin');
    expect(((await vic.get('/teams/acme')) as Team).role).toBe('admin');
    fake.setTeamRole('acme', 'vic@example.com', null);
    expect(roles((await vic.get('/teams')) as Team[])).toEqual({ globex: 'admin' });
    await expect(vic.get('/teams/acme/members')).rejects.toMatchObject({ statusCode: 403 });
  });

  it('the controller’s own token still sees every team as admin, and has an account of its own', async () => {
    expect(roles((await operator.get('/teams')) as Team[])).toEqual({ acme: 'admin', globex: 'admin', initech: 'admin' });
    const account = (await operator.get('/account')) as Account;
    expect(validate('account', account)).toEqual([]);
    expect(account.email).not.toMatch(/@example\.com$/);
  });
});

describe('GET /account', () => {
  it('is the signed-in user, with any scope, identity included', async () => {
    const vic = await signIn('vic@example.com', 'identity');
    const account = (await vic.get('/account')) as Account;
    expect(validate('account', account)).toEqual([]);
    expect(account).toEqual(fake.user('vic@example.com'));
    expect(account).toMatchObject({ email: 'vic@example.com', name: null, id: fake.user('vic@example.com').id });
  });
});

describe('GET /teams/{team}/members', () => {
  it('lists the team’s members (schema team-member) to any member', async () => {
    for (const who of ['ada@example.com', 'max@example.com', 'vic@example.com', 'cole@example.com']) {
      const members = (await (await signIn(who)).get('/teams/acme/members')) as TeamMember[];
      expect(validateList('team-member', members)).toEqual([]);
      expect(Object.fromEntries(members.map((m) => [m.email, m.role]))).toEqual({
        'ada@example.com': 'admin',
        'max@example.com': 'member',
        'vic@example.com': 'viewer',
        'cole@example.com': 'collaborator',
      });
    }
    const ada = ((await (await signIn('ada@example.com')).get('/teams/acme/members')) as TeamMember[]).find((m) => m.email === 'ada@example.com')!;
    expect(ada.user).toEqual({ email: 'ada@example.com', id: fake.user('ada@example.com').id, name: 'Ada Admin' });
    expect(ada.id).not.toBe(ada.user.id);
  });

  it('is 403 forbidden for a user who is not in the team (by name or id), 404 for an unknown team', async () => {
    const nora = await signIn('nora@example.com');
    await expect(nora.get('/teams/acme/members')).rejects.toMatchObject({
      statusCode: 403,
      body: { id: 'forbidden', message: 'You do not have access to the team acme.' },
    });
    await expect(nora.get(`/teams/${fake.team('acme').id}/members`)).rejects.toMatchObject({ statusCode: 403, body: { id: 'forbidden' } });
    const max = await signIn('max@example.com');
    await expect(max.get('/teams/globex/members')).rejects.toMatchObject({ statusCode: 403 });
    await expect(max.get('/teams/nope/members')).rejects.toMatchObject({ statusCode: 404, body: { id: 'not_found' } });
  });

  it('the controller’s token lists any team’s members; a team without members is empty', async () => {
    const members = (await operator.get('/teams/globex/members')) as TeamMember[];
    expect(members.map((m) => [m.email, m.role]).sort()).toEqual([
      ['ada@example.com', 'member'],
      ['vic@example.com', 'admin'],
    ]);
    expect(await operator.get('/teams/initech/members')).toEqual([]);
    expect(fake.teamMembers('globex').map((m) => m.email).sort()).toEqual(['ada@example.com', 'vic@example.com']);
  });

  it('paginates like every list', async () => {
    for (let i = 0; i < 5; i++) {
      fake.addUser({ email: `u${i}@example.com` });
      fake.setTeamRole('initech', `u${i}@example.com`, 'member');
    }
    const page = await fetch(`${fake.url}/teams/initech/members`, { headers: { Authorization: `Bearer ${fake.token}`, Range: 'id ..; max=2' } });
    expect(page.status).toBe(206);
    expect(page.headers.get('next-range')).toMatch(/^id \]/);
    expect(((await operator.get('/teams/initech/members')) as TeamMember[]).length).toBe(5);
  });
});

describe('the rest of the API as a user', () => {
  it('lists and shows only the user’s teams’ apps and add-ons; another team’s are 403', async () => {
    const max = await signIn('max@example.com');
    expect(((await max.get('/apps')) as App[]).map((a) => a.name)).toEqual(['acme-web']);
    expect(((await max.get('/addons')) as Array<{ app: { name: string } }>).map((a) => a.app.name)).toEqual(['acme-web']);
    expect(((await max.get('/addon-attachments')) as Array<{ app: { name: string } }>).map((a) => a.app.name)).toEqual(['acme-web']);
    expect(await max.get('/teams/acme/apps')).toHaveLength(1);
    await expect(max.get('/apps/initech-web')).rejects.toMatchObject({
      statusCode: 403,
      body: { id: 'forbidden', message: 'You do not have access to the app initech-web.' },
    });
    await expect(max.get('/teams/initech/addons')).rejects.toMatchObject({ statusCode: 403 });
    const foreignAddon = fake.addon(fake.appAttachments('initech-web')[0]!.addon.id);
    await expect(max.get(`/addons/${foreignAddon.id}`)).rejects.toMatchObject({ statusCode: 403 });
    await expect(max.get(`/addon-attachments/${fake.appAttachments('initech-web')[0]!.id}`)).rejects.toMatchObject({ statusCode: 403 });
    await expect(max.get('/apps/nope')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('writes need the admin role and a write scope; config vars need the -protected scopes', async () => {
    const maxGlobal = await signIn('max@example.com', 'global');
    await expect(maxGlobal.patch('/apps/acme-web/config-vars', { body: { A: '1' } })).rejects.toMatchObject({
      statusCode: 403,
      body: { id: 'forbidden' },
    });
    const adaRead = await signIn('ada@example.com', 'read');
    expect(await adaRead.get('/apps/acme-web')).toMatchObject({ name: 'acme-web' });
    await expect(adaRead.get('/apps/acme-web/config-vars')).rejects.toMatchObject({ statusCode: 403, body: { id: 'forbidden' } });
    await expect(adaRead.patch('/apps/acme-web/config-vars', { body: { A: '1' } })).rejects.toMatchObject({ statusCode: 403 });
    const adaProtected = await signIn('ada@example.com', 'read-protected write-protected');
    expect(await adaProtected.patch('/apps/acme-web/config-vars', { body: { A: '1' } })).toEqual({ A: '1' });
    expect(await adaProtected.get('/apps/acme-web/config-vars')).toEqual({ A: '1' });
  });

  it('an identity-scoped token reaches GET /account only', async () => {
    const ada = await signIn('ada@example.com', 'identity');
    await expect(ada.get('/teams')).rejects.toMatchObject({ statusCode: 403, body: { id: 'forbidden' } });
    await expect(ada.get('/teams/acme/members')).rejects.toMatchObject({ statusCode: 403 });
  });

  it('a user’s requests spend the user’s own rate limit, not the controller’s', async () => {
    const before = fake.rateLimitRemaining;
    const { access_token } = fake.issueUserToken('max@example.com', { scopes: ['read'] });
    const res = await fetch(`${fake.url}/teams`, { headers: { Authorization: `Bearer ${access_token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-remaining')).toBe('4499');
    expect(fake.rateLimitRemaining).toBe(before);
    const basic = await fetch(`${fake.url}/account/rate-limits`, {
      headers: { Authorization: `Basic ${Buffer.from(`:${access_token}`).toString('base64')}` },
    });
    expect(await basic.json()).toEqual({ remaining: 4499 });
  });

  it('a destroyed team leaves the user’s teams', async () => {
    const vic = await signIn('vic@example.com');
    fake.destroyTeam('globex');
    expect(roles((await vic.get('/teams')) as Team[])).toEqual({ acme: 'viewer' });
  });
});

describe('seeding', () => {
  it('refuses a taken email (any case), a bad email, an unknown team or user, and an unknown role', () => {
    expect(() => fake.addUser({ email: 'ADA@example.com' })).toThrow(/exists/);
    expect(() => fake.addUser({ email: 'not-an-email' })).toThrow(/not an email/);
    expect(() => fake.setTeamRole('nope', 'ada@example.com', 'admin')).toThrow(/Couldn't find that team/);
    expect(() => fake.setTeamRole('acme', 'nobody@example.com', 'admin')).toThrow(/Couldn't find that user/);
    // @ts-expect-error: not a role
    expect(() => fake.setTeamRole('acme', 'ada@example.com', 'superuser')).toThrow(/is not one of/);
    expect(() => fake.signInAs('nobody@example.com')).toThrow(/Couldn't find that user/);
  });

  it('the schema accepts every role the fake serves and still refuses others', () => {
    const member = fake.teamMembers('acme')[0]!;
    for (const role of ['admin', 'member', 'viewer', 'collaborator', 'owner'] as const) {
      expect(validate('team-member', { ...member, role })).toEqual([]);
      expect(validate('team', { ...fake.team('acme'), role })).toEqual([]);
    }
    expect(validate('team', { ...fake.team('acme'), role: 'superuser' })).toEqual([expect.stringMatching(/^\/role must be equal to one of/)]);
    expect(validate('team-member', { ...member, surprise: 1 })).toEqual([expect.stringMatching(/additional properties/)]);
    const { email: _e, ...noEmail } = fake.user('ada@example.com');
    expect(validate('account', noEmail)).toEqual([expect.stringMatching(/required property 'email'/)]);
  });
});
