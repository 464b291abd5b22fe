/** The Partner API's pure parts and its configuration: Basic auth, request parsing, settings. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { checkBasicAuth } from '../../src/partner/basic-auth.js';
import { createPartnerApiFromConfig } from '../../src/partner/partner-api.js';
import type { PartnerAddonStore } from '../../src/store/partner-addon-store.js';
import { HerokuOAuthClient, OAuthRefusedError, OAuthTransientError } from '../../src/partner/oauth-client.js';
import { parsePlanChange, parseProvisionRequest } from '../../src/partner/provision-request.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('checkBasicAuth', () => {
  const cases: Array<{ reason: string; header: string | undefined; ok: boolean }> = [
    { reason: 'the current password', header: basic('s3-bucket', 'pw-new'), ok: true },
    { reason: 'the previous password during a rotation', header: basic('s3-bucket', 'pw-old'), ok: true },
    { reason: 'a password with a colon in it', header: basic('s3-bucket', 'a:b'), ok: false },
    { reason: 'a wrong password', header: basic('s3-bucket', 'pw-new-'), ok: false },
    { reason: 'a wrong manifest id', header: basic('s3-buckets', 'pw-new'), ok: false },
    { reason: 'an empty password', header: basic('s3-bucket', ''), ok: false },
    { reason: 'no header', header: undefined, ok: false },
    { reason: 'a bearer token', header: 'Bearer pw-new', ok: false },
    { reason: 'no colon', header: `Basic ${Buffer.from('s3-bucketpw-new').toString('base64')}`, ok: false },
  ];
  it.each(cases)('$reason → $ok', ({ header, ok }) => {
    expect(checkBasicAuth(header, 's3-bucket', ['pw-new', 'pw-old', ''])).toBe(ok);
  });
});

describe('parseProvisionRequest', () => {
  const valid = {
    uuid: '01234567-89AB-cdef-0123-456789abcdef',
    name: 'acme-inc-primary-database',
    heroku_id: 'app123@heroku.com',
    callback_url: 'https://api.heroku.com/addons/01234567-89ab-cdef-0123-456789abcdef',
    plan: 'basic',
    region: 'amazon-web-services::us-east-1',
    options: { foo: 'bar' },
    oauth_grant: { code: 'code-1', expires_at: '2016-03-03T18:01:31-0800', type: 'authorization_code' },
    log_input_url: 'https://token:t.x@1.us.logplex.io/logs',
    log_drain_token: 'd.x',
    something_new: true,
  };

  it('takes the fields it uses, lower-cases the uuid and ignores unknown ones', () => {
    const parsed = parseProvisionRequest(valid);
    expect(parsed).toEqual({
      ok: true,
      value: {
        uuid: '01234567-89ab-cdef-0123-456789abcdef',
        name: 'acme-inc-primary-database',
        herokuId: 'app123@heroku.com',
        plan: 'basic',
        region: 'amazon-web-services::us-east-1',
        callbackUrl: valid.callback_url,
        options: { foo: 'bar' },
        grantCode: 'code-1',
        grantExpiresAt: new Date('2016-03-04T02:01:31Z'),
      },
    });
  });

  const bad: Array<{ reason: string; body: unknown; problem: RegExp }> = [
    { reason: 'not an object', body: [], problem: /JSON object/ },
    { reason: 'no uuid', body: { ...valid, uuid: undefined }, problem: /uuid/ },
    { reason: 'no plan', body: { ...valid, plan: '' }, problem: /plan is required/ },
    { reason: 'a number for a name', body: { ...valid, name: 3 }, problem: /name must be a string/ },
    { reason: 'options not an object', body: { ...valid, options: 'x' }, problem: /options/ },
    { reason: 'no grant', body: { ...valid, oauth_grant: undefined }, problem: /oauth_grant is required/ },
    { reason: 'an empty grant code', body: { ...valid, oauth_grant: { code: '' } }, problem: /oauth_grant.code/ },
    { reason: 'a bad grant expiry', body: { ...valid, oauth_grant: { code: 'c', expires_at: 'soon' } }, problem: /expires_at/ },
  ];
  it.each(bad)('refuses $reason', ({ body, problem }) => {
    const parsed = parseProvisionRequest(body);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toMatch(problem);
  });

  it('reads a plan change', () => {
    expect(parsePlanChange({ plan: 'versioned', heroku_id: 'x', uuid: 'y' })).toEqual({ ok: true, value: { plan: 'versioned' } });
    expect(parsePlanChange({})).toEqual({ ok: false, problem: 'plan is required' });
  });
});

describe('HerokuOAuthClient', () => {
  const answer = (status: number, body: unknown) => async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

  it('sends a form-encoded authorization_code grant with the client secret and computes the expiry', async () => {
    let sent: { url: string; body: string; type: string } | undefined;
    const client = new HerokuOAuthClient({
      url: 'https://id.example.com/',
      clientSecret: 'client-secret-1',
      now: () => new Date('2026-01-01T00:00:00Z'),
      fetch: async (url, init) => {
        sent = { url, body: String(init.body), type: (init.headers as Record<string, string>)['content-type']! };
        return answer(200, { access_token: 'a', refresh_token: 'r', expires_in: 28800, token_type: 'Bearer' })();
      },
    });
    expect(await client.exchangeGrant('code 1')).toEqual({ accessToken: 'a', refreshToken: 'r', accessTokenExpiresAt: new Date('2026-01-01T08:00:00Z') });
    expect(sent?.url).toBe('https://id.example.com/oauth/token');
    expect(sent?.type).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(sent!.body))).toEqual({ grant_type: 'authorization_code', code: 'code 1', client_secret: 'client-secret-1' });
  });

  it('keeps the refresh token when a refresh answers without one', async () => {
    const client = new HerokuOAuthClient({ url: 'https://id.example.com', clientSecret: 's', fetch: answer(200, { access_token: 'a2', expires_in: 60 }) });
    expect((await client.refresh('r1')).refreshToken).toBe('r1');
  });

  it('tells a refusal from a transient failure, and never repeats what it sent', async () => {
    const refused = new HerokuOAuthClient({ url: 'https://id.example.com', clientSecret: 'top-secret', fetch: answer(401, { id: 'unauthorized', message: 'bad secret top-secret' }) });
    const error = await refused.exchangeGrant('the-code').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthRefusedError);
    expect(String((error as Error).message)).toMatch(/401 unauthorized/);
    expect(String((error as Error).message)).not.toMatch(/top-secret|the-code/);
    const down = new HerokuOAuthClient({ url: 'https://id.example.com', clientSecret: 's', fetch: answer(503, {}) });
    await expect(down.exchangeGrant('c')).rejects.toBeInstanceOf(OAuthTransientError);
    const unreachable = new HerokuOAuthClient({ url: 'https://id.example.com', clientSecret: 's', fetch: async () => { throw new TypeError('fetch failed'); } });
    await expect(unreachable.exchangeGrant('c')).rejects.toBeInstanceOf(OAuthTransientError);
    expect(JSON.stringify(refused)).not.toContain('top-secret');
  });
});

describe('partner configuration', () => {
  const base = { FERNET_KEYS: 'x' };

  it('is off without ADDON_MANIFEST_ID, and delivers to app config vars by default', () => {
    const config = loadConfig(base);
    expect(config.partner).toBeNull();
    expect(config.credentialDelivery).toBe('app-config-vars');
  });

  it('reads the manifest id, the passwords, the client secret and the OAuth URL', () => {
    const config = loadConfig({
      ...base,
      ADDON_MANIFEST_ID: 's3-bucket',
      ADDON_MANIFEST_PASSWORD: 'pw-new, pw-old',
      ADDON_CLIENT_SECRET: 'client-secret',
      HEROKU_OAUTH_URL: 'http://127.0.0.1:9999/',
      CREDENTIAL_DELIVERY: 'addon-config',
    });
    expect(config.partner).toEqual({ manifestId: 's3-bucket', manifestPasswords: ['pw-new', 'pw-old'], clientSecret: 'client-secret', oauthUrl: 'http://127.0.0.1:9999' });
    expect(config.credentialDelivery).toBe('addon-config');
    expect(loadConfig({ ...base, ADDON_MANIFEST_ID: 's3-bucket', ADDON_MANIFEST_PASSWORD: 'p', ADDON_CLIENT_SECRET: 'c' }).partner?.oauthUrl).toBe('https://id.heroku.com');
  });

  const refused: Array<{ reason: string; env: Record<string, string>; message: RegExp }> = [
    { reason: 'a password without a manifest id', env: { ADDON_MANIFEST_PASSWORD: 'hunter2-secret' }, message: /^ADDON_MANIFEST_PASSWORD: is set without ADDON_MANIFEST_ID/ },
    { reason: 'a manifest id without a password', env: { ADDON_MANIFEST_ID: 's3-bucket', ADDON_CLIENT_SECRET: 'c' }, message: /^ADDON_MANIFEST_PASSWORD: is not set/ },
    { reason: 'no client secret', env: { ADDON_MANIFEST_ID: 's3-bucket', ADDON_MANIFEST_PASSWORD: 'hunter2-secret' }, message: /^ADDON_CLIENT_SECRET: is not set/ },
    { reason: 'addon-config delivery without the Partner API', env: { CREDENTIAL_DELIVERY: 'addon-config' }, message: /^CREDENTIAL_DELIVERY: is addon-config, which needs/ },
    { reason: 'an unknown delivery mode', env: { CREDENTIAL_DELIVERY: 'email' }, message: /^CREDENTIAL_DELIVERY: must be one of app-config-vars, addon-config/ },
    { reason: 'a bad manifest id', env: { ADDON_MANIFEST_ID: 'S3 Bucket' }, message: /^ADDON_MANIFEST_ID: must be the add-on manifest id/ },
    { reason: 'a bad OAuth URL', env: { HEROKU_OAUTH_URL: 'id.heroku.com' }, message: /^HEROKU_OAUTH_URL: must be an http\(s\) URL/ },
  ];
  it.each(refused)('refuses $reason in one sentence that never repeats a secret', ({ env, message }) => {
    let error: unknown;
    try {
      loadConfig({ ...base, ...env });
    } catch (err) {
      error = err;
    }
    expect(String((error as Error)?.message)).toMatch(message);
    expect(String((error as Error)?.message)).not.toContain('hunter2-secret');
  });
});

describe('createPartnerApiFromConfig', () => {
  const store = {} as PartnerAddonStore;
  it('mounts nothing without ADDON_MANIFEST_ID', () => {
    expect(createPartnerApiFromConfig(loadConfig({}), { store, enqueue: () => undefined })).toBeNull();
  });
  it('mounts /heroku/resources with the configured settings', () => {
    const config = loadConfig({ ADDON_MANIFEST_ID: 's3-bucket', ADDON_MANIFEST_PASSWORD: 'p', ADDON_CLIENT_SECRET: 'c' });
    expect(createPartnerApiFromConfig(config, { store, enqueue: () => undefined })?.prefix).toBe('/heroku/resources');
  });
});
