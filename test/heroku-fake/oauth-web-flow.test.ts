/**
 * The Heroku fake's OAuth web flow (id.heroku.com): the authorize step signed in through
 * `signInAs` and through the HTML form, the token exchange and refresh, their errors, and the
 * Add-on Partner grant exchange that shares `POST /oauth/token`. Platform calls go through the real
 * heroku-client; `/oauth/*` through plain fetch, as a web app's sign-in code would make them.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Account, HerokuFake, OAuthClient, Team } from '../support/heroku-fake/index.js';
import { validate } from '../support/heroku-fake/index.js';
import { authorizeUrl, herokuAs, noFollow, oauthFakePerTest, submitAuthorizeForm, tokenRequest } from './oauth-support.js';

const per = oauthFakePerTest();
let fake: HerokuFake;
let client: OAuthClient;
let alice: Account;

const REDIRECT = 'https://console.example.com/auth/heroku/callback';
/** A state with characters that must survive the round trip exactly. */
const STATE = 'st/8f+a b&c=d?é~';

beforeEach(() => {
  fake = per.fake;
  fake.addTeam({ name: 'acme' });
  fake.addTeam({ name: 'globex' });
  fake.addTeam({ name: 'initech' });
  alice = fake.addUser({ email: 'alice@example.com', name: 'Alice Admin' });
  fake.setTeamRole('acme', 'alice@example.com', 'admin');
  fake.setTeamRole('globex', 'alice@example.com', 'viewer');
  client = fake.registerOAuthClient({ redirectUri: REDIRECT, name: 'S3 controller console' });
});

function authorize(extra: Record<string, string> = {}): string {
  return authorizeUrl(fake, { client_id: client.id, response_type: 'code', scope: 'read', state: STATE, ...extra });
}

/** The code and state a redirect to the client carries. */
function callback(location: string | null): URLSearchParams {
  expect(location).not.toBeNull();
  const to = new URL(location!);
  expect(`${to.origin}${to.pathname}`).toBe(REDIRECT);
  return to.searchParams;
}

describe('signing in without a browser (signInAs)', () => {
  it('redirects with a code and the exact state, exchanges it, and the Platform API answers as the user', async () => {
    fake.signInAs('alice@example.com');
    const step1 = await noFollow(authorize());
    expect(step1.status).toBe(302);
    const back = callback(step1.location);
    expect(back.get('state')).toBe(STATE);
    const code = back.get('code')!;
    expect(code).toMatch(/^[0-9a-f-]{36}$/);

    const token = await tokenRequest(fake, { grant_type: 'authorization_code', code, client_secret: client.secret });
    expect(token.status).toBe(200);
    // The flat answer Heroku documents for id.heroku.com, field for field.
    expect(token.body).toEqual({
      access_token: expect.stringMatching(/^HRKU-[0-9a-f-]{36}$/),
      expires_in: 28799,
      refresh_token: expect.stringMatching(/^HRKU-[0-9a-f-]{36}$/),
      token_type: 'Bearer',
      user_id: alice.id,
      session_nonce: expect.stringMatching(/^[0-9a-f]{8}$/),
    });

    const heroku = herokuAs(fake, token.body.access_token);
    const account = (await heroku.get('/account')) as Account;
    expect(validate('account', account)).toEqual([]);
    expect(account).toMatchObject({ id: alice.id, email: 'alice@example.com', name: 'Alice Admin' });
    expect(account.last_login).not.toBeNull();
    const teams = (await heroku.get('/teams')) as Team[];
    expect(teams.map((t) => [t.name, t.role]).sort()).toEqual([
      ['acme', 'admin'],
      ['globex', 'viewer'],
    ]);
    expect(fake.identity.decisions).toEqual([{ clientId: client.id, email: 'alice@example.com', decision: 'allow', via: 'session', scopes: ['read'] }]);
  });

  it('takes the registered redirect_uri when it is given, and several scopes', async () => {
    fake.signInAs(alice.id);
    const step1 = await noFollow(authorize({ redirect_uri: REDIRECT, scope: 'identity read' }));
    expect(step1.status).toBe(302);
    expect(callback(step1.location).get('code')).toBeTruthy();
    expect(fake.identity.decisions[0]!.scopes).toEqual(['identity', 'read']);
  });

  it('leaves state out of the redirect only when the client sent none', async () => {
    fake.signInAs('alice@example.com');
    const u = new URL(authorize());
    u.searchParams.delete('state');
    const back = callback((await noFollow(u.toString())).location);
    expect(back.has('state')).toBe(false);
    expect(back.get('code')).toBeTruthy();
  });
});

describe('signing in with the authorize page (as a browser does)', () => {
  it('shows an accessible form that posts back the same parameters; Allow redirects with a code', async () => {
    const page = await noFollow(authorize());
    expect(page.status).toBe(200);
    expect(page.contentType).toMatch(/^text\/html/);
    expect(page.text).toMatch(/<html lang="en">/);
    expect(page.text).toMatch(/<label for="email">Email address<\/label>/);
    expect(page.text).toMatch(/<input id="email" name="email" type="email" autocomplete="username" required/);
    expect(page.text).toMatch(/<button type="submit" name="decision" value="allow">Allow<\/button>/);
    expect(page.text).toMatch(/<button type="submit" name="decision" value="deny" formnovalidate>Deny<\/button>/);
    expect(page.text).toContain('S3 controller console');

    const allowed = await submitAuthorizeForm(fake, page.text, { email: 'ALICE@example.com', decision: 'allow' });
    expect(allowed.status).toBe(302);
    const back = callback(allowed.location);
    expect(back.get('state')).toBe(STATE);
    const token = await tokenRequest(fake, { grant_type: 'authorization_code', code: back.get('code')!, client_secret: client.secret });
    expect(token.body.user_id).toBe(alice.id);
    expect(fake.identity.decisions.at(-1)).toMatchObject({ decision: 'allow', via: 'form', email: 'alice@example.com' });
  });

  it('Deny redirects with error=access_denied and the state, and no code', async () => {
    const page = await noFollow(authorize());
    const denied = await submitAuthorizeForm(fake, page.text, { email: '', decision: 'deny' });
    expect(denied.status).toBe(302);
    const back = callback(denied.location);
    expect(back.get('error')).toBe('access_denied');
    expect(back.get('state')).toBe(STATE);
    expect(back.has('code')).toBe(false);
  });

  it('an unknown email shows the form again with an alert, and does not redirect', async () => {
    const page = await noFollow(authorize());
    const again = await submitAuthorizeForm(fake, page.text, { email: 'mallory@example.com', decision: 'allow' });
    expect(again.status).toBe(401);
    expect(again.location).toBeNull();
    expect(again.text).toMatch(/<p role="alert" id="email-error">No Heroku account has the email address mallory@example.com.<\/p>/);
    expect(again.text).toMatch(/aria-describedby="email-error" aria-invalid="true"/);
    expect(again.text).toContain('value="mallory@example.com"');
  });

  it('escapes what it echoes', async () => {
    const page = await noFollow(authorize({ state: '"><script>alert(1)</script>' }));
    expect(page.text).not.toContain('<script>');
    expect(page.text).toContain('&quot;&gt;&lt;script&gt;');
    const allowed = await submitAuthorizeForm(fake, page.text, { email: 'alice@example.com', decision: 'allow' });
    expect(callback(allowed.location).get('state')).toBe('"><script>alert(1)</script>');
  });
});

describe('authorize errors: a 400 page, never a redirect', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['an unknown client', { client_id: '5b1f1c7e-0000-4000-8000-000000000000' }, /Unknown OAuth client/],
    ['no client', { client_id: '' }, /Unknown OAuth client/],
    ['response_type token', { response_type: 'token' }, /Unsupported response_type/],
    ['no response_type', { response_type: '' }, /Unsupported response_type/],
    ['another redirect_uri', { redirect_uri: 'https://evil.example.com/cb' }, /redirect_uri does not match/],
    ['an unknown scope', { scope: 'read admin' }, /Invalid scope/],
    ['no scope', { scope: '' }, /Invalid scope/],
  ];
  for (const [reason, params, message] of cases) {
    it(`refuses ${reason}`, async () => {
      fake.signInAs('alice@example.com'); // even with a session
      const answer = await noFollow(authorize(params));
      expect(answer.status).toBe(400);
      expect(answer.location).toBeNull();
      expect(answer.contentType).toMatch(/^text\/html/);
      expect(answer.text).toMatch(message);
      expect(answer.text).toMatch(/role="alert"/);
      // The form post is checked the same way.
      const posted = await noFollow(`${fake.url}/oauth/authorize`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URL(authorize(params)).searchParams.toString() + '&email=alice%40example.com&decision=allow',
      });
      expect(posted.status).toBe(400);
      expect(posted.location).toBeNull();
    });
  }
});

describe('token exchange errors', () => {
  async function freshCode(): Promise<string> {
    fake.signInAs('alice@example.com');
    return callback((await noFollow(authorize())).location).get('code')!;
  }

  it('a wrong client secret is 401 and leaves the code usable', async () => {
    const code = await freshCode();
    const other = fake.registerOAuthClient({ redirectUri: 'https://other.example.com/cb' });
    for (const secret of ['nope', other.secret, '']) {
      const bad = await tokenRequest(fake, { grant_type: 'authorization_code', code, client_secret: secret });
      expect(bad).toEqual({ status: 401, body: { id: 'unauthorized', message: expect.any(String) } });
    }
    const ok = await tokenRequest(fake, { grant_type: 'authorization_code', code, client_secret: client.secret });
    expect(ok.status).toBe(200);
  });

  it('a code works once', async () => {
    const code = await freshCode();
    expect((await tokenRequest(fake, { grant_type: 'authorization_code', code, client_secret: client.secret })).status).toBe(200);
    const again = await tokenRequest(fake, { grant_type: 'authorization_code', code, client_secret: client.secret });
    expect(again).toEqual({ status: 400, body: { id: 'invalid_grant', message: 'The authorization code has already been used.' } });
  });

  it('a code expires after five minutes on the fake clock', async () => {
    const code = await freshCode();
    per.clock.now += 5 * 60_000;
    const late = await tokenRequest(fake, { grant_type: 'authorization_code', code, client_secret: client.secret });
    expect(late).toEqual({ status: 400, body: { id: 'invalid_grant', message: 'The authorization code has expired.' } });
    const code2 = await freshCode();
    per.clock.now += 5 * 60_000 - 1;
    expect((await tokenRequest(fake, { grant_type: 'authorization_code', code: code2, client_secret: client.secret })).status).toBe(200);
  });

  it('an unknown code with a client’s secret is 400 invalid_grant; an unknown grant type 400', async () => {
    const unknown = await tokenRequest(fake, { grant_type: 'authorization_code', code: 'made-up', client_secret: client.secret });
    expect(unknown).toEqual({ status: 400, body: { id: 'invalid_grant', message: expect.any(String) } });
    const pw = await tokenRequest(fake, { grant_type: 'password', client_secret: client.secret });
    expect(pw).toEqual({ status: 400, body: { id: 'unsupported_grant_type', message: expect.any(String) } });
    expect(fake.identity.tokenRequests.map((r) => [r.grantType, r.status])).toEqual([
      ['authorization_code', 400],
      ['password', 400],
    ]);
  });

  it('refreshes an expired access token; the refresh token stays; revoked tokens stop working', async () => {
    const code = await freshCode();
    const first = (await tokenRequest(fake, { grant_type: 'authorization_code', code, client_secret: client.secret })).body;
    expect(await herokuAs(fake, first.access_token).get('/account')).toMatchObject({ id: alice.id });

    per.clock.now += 28_799_000;
    await expect(herokuAs(fake, first.access_token).get('/account')).rejects.toMatchObject({
      statusCode: 401,
      body: { id: 'unauthorized', message: 'Invalid credentials provided.' },
    });
    const wrong = await tokenRequest(fake, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_secret: 'nope' });
    expect(wrong.status).toBe(401);
    const refreshed = await tokenRequest(fake, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_secret: client.secret });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toMatchObject({ refresh_token: first.refresh_token, user_id: alice.id, session_nonce: first.session_nonce, token_type: 'Bearer' });
    expect(refreshed.body.access_token).not.toBe(first.access_token);
    expect(await herokuAs(fake, refreshed.body.access_token).get('/account')).toMatchObject({ id: alice.id });

    fake.identity.revokeTokens('alice@example.com');
    await expect(herokuAs(fake, refreshed.body.access_token).get('/account')).rejects.toMatchObject({ statusCode: 401 });
    const afterRevoke = await tokenRequest(fake, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_secret: client.secret });
    expect(afterRevoke).toEqual({ status: 400, body: { id: 'invalid_grant', message: expect.any(String) } });
  });

  it('reads the parameters from a JSON body or the query string too', async () => {
    const code = await freshCode();
    const res = await fetch(`${fake.url}/oauth/token?grant_type=authorization_code&code=${code}&client_secret=${client.secret}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(200);
    const code2 = await freshCode();
    const res2 = await fetch(`${fake.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant_type: 'authorization_code', code: code2, client_secret: client.secret }),
    });
    expect(((await res2.json()) as { user_id: string }).user_id).toBe(alice.id);
  });
});

describe('POST /oauth/tokens (the Platform API’s token create)', () => {
  it('exchanges a code for the nested oauth-token, checked against the schema', async () => {
    fake.signInAs('alice@example.com');
    const code = callback((await noFollow(authorize())).location).get('code')!;
    const res = await fetch(`${fake.url}/oauth/tokens`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/vnd.heroku+json; version=3' },
      body: JSON.stringify({ grant: { code, type: 'authorization_code' }, client: { secret: client.secret } }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(validate('oauth-token', body)).toEqual([]);
    expect(body).toMatchObject({
      access_token: { expires_in: 28799, token: expect.stringMatching(/^HRKU-/) },
      grant: { code, type: 'authorization_code' },
      user: { id: alice.id },
      client: { secret: client.secret },
    });
    const reused = await fetch(`${fake.url}/oauth/tokens`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant: { code, type: 'authorization_code' }, client: { secret: client.secret } }),
    });
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ id: 'invalid_grant' });
  });
});

describe('the Add-on Partner grant exchange shares POST /oauth/token', () => {
  it('still exchanges a partner grant with the partner secret, and tells the two apart', async () => {
    fake.addApp({ name: 'acme-web', team: 'acme' });
    const addon = fake.addAddon({ app: 'acme-web', service: 's3-bucket' });
    const grant = fake.partner.issueGrant(addon.id);

    // A partner grant with a web client's secret is not the web flow's: the partner side refuses it.
    const crossed = await tokenRequest(fake, { grant_type: 'authorization_code', code: grant.code, client_secret: client.secret });
    expect(crossed.status).toBe(400);
    expect(crossed.body).toMatchObject({ id: 'invalid_grant' });
    expect(fake.partner.tokenRequests).toEqual([]);

    const partner = await tokenRequest(fake, { grant_type: 'authorization_code', code: grant.code, client_secret: fake.partner.clientSecret });
    expect(partner.status).toBe(200);
    expect(partner.body).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), expires_in: 300, token_type: 'Bearer' });
    expect(fake.partner.tokenRequests).toEqual([{ grantType: 'authorization_code', status: 200 }]);

    // A web-flow code with the partner's secret: the web flow's code, so the web flow refuses the secret.
    fake.signInAs('alice@example.com');
    const code = callback((await noFollow(authorize())).location).get('code')!;
    const wrong = await tokenRequest(fake, { grant_type: 'authorization_code', code, client_secret: fake.partner.clientSecret });
    expect(wrong.status).toBe(401);

    // A partner add-on token is no user token on the Platform API.
    await expect(herokuAs(fake, partner.body.access_token).get('/account')).rejects.toMatchObject({ statusCode: 401 });
  });
});
