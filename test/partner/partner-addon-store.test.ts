import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { SecretBox } from '../../src/crypto/secret-box.js';
import type { PartnerAddonInput } from '../../src/store/partner-addon-store.js';
import { Store } from '../../src/store/store.js';
import { backends, newKey, type BackendTarget } from '../store/backends.js';

function request(overrides: Partial<PartnerAddonInput> = {}): PartnerAddonInput {
  return {
    uuid: randomUUID(),
    name: 's3-bucket-curved-12345',
    herokuId: 'app123@heroku.com',
    plan: 'private',
    region: 'amazon-web-services::us-east-1',
    callbackUrl: 'https://api.heroku.com/addons/x',
    options: { versioned: 'true' },
    grantCode: `grant-${randomUUID()}`,
    grantExpiresAt: new Date('2030-01-01T00:00:00Z'),
    ...overrides,
  };
}

describe.each(backends)('partner add-on store on $name', (backend) => {
  let target: BackendTarget;
  let store: Store;
  const key1 = newKey();

  beforeAll(async () => {
    target = await backend.fresh();
    store = await Store.open({ ...target, fernetKeys: [key1] });
  });

  afterAll(async () => {
    await store?.close();
    await target?.cleanup();
  });

  it('applies the partner migration', async () => {
    const status = await store.db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY version');
    expect(status.map((r) => r.name)).toContain('partner_addons');
  });

  it('records a provisioning request once per uuid, whatever is sent again', async () => {
    const input = request();
    const first = await store.partnerAddons.create(input);
    expect(first.created).toBe(true);
    expect(first.addon).toMatchObject({ uuid: input.uuid, plan: 'private', state: 'provisioning', hasGrant: true, tokens: null, options: { versioned: 'true' } });
    const again = await store.partnerAddons.create({ ...input, plan: 'versioned' });
    expect(again.created).toBe(false);
    expect(again.addon.plan).toBe('private');
    const rows = await store.db.query('SELECT uuid FROM partner_addons WHERE uuid = $1', [input.uuid]);
    expect(rows).toHaveLength(1);
  });

  it('keeps the grant and the tokens encrypted at rest, and forgets the grant once exchanged', async () => {
    const input = request();
    await store.partnerAddons.create(input);
    expect(await store.partnerAddons.grantCode(input.uuid)).toEqual({ code: input.grantCode, expiresAt: input.grantExpiresAt });
    const tokens = { accessToken: `access-${randomUUID()}`, refreshToken: `refresh-${randomUUID()}`, accessTokenExpiresAt: new Date('2030-01-01T08:00:00Z') };
    expect(await store.partnerAddons.saveExchangedTokens(input.uuid, tokens, new Date())).toBe(true);
    // A second exchange (another replica) does not overwrite the first.
    expect(await store.partnerAddons.saveExchangedTokens(input.uuid, { ...tokens, accessToken: 'other' }, new Date())).toBe(false);
    const addon = await store.partnerAddons.get(input.uuid);
    expect(addon?.tokens).toEqual(tokens);
    expect(addon?.hasGrant).toBe(false);
    expect(await store.partnerAddons.grantCode(input.uuid)).toBeNull();
    const raw = JSON.stringify(await store.db.query('SELECT * FROM partner_addons WHERE uuid = $1', [input.uuid]));
    expect(raw).not.toContain(tokens.accessToken);
    expect(raw).not.toContain(tokens.refreshToken);
    expect(raw).not.toContain(input.grantCode!);
  });

  it('replaces refreshed tokens only over the token that was refreshed', async () => {
    const input = request();
    await store.partnerAddons.create(input);
    const first = { accessToken: 'a1', refreshToken: 'r1', accessTokenExpiresAt: new Date('2030-01-01T01:00:00Z') };
    await store.partnerAddons.saveExchangedTokens(input.uuid, first, new Date());
    const second = { accessToken: 'a2', refreshToken: 'r1', accessTokenExpiresAt: new Date('2030-01-01T02:00:00Z') };
    expect(await store.partnerAddons.saveRefreshedTokens(input.uuid, second, first.accessTokenExpiresAt)).toBe(true);
    const stale = { accessToken: 'a3', refreshToken: 'r1', accessTokenExpiresAt: new Date('2030-01-01T03:00:00Z') };
    expect(await store.partnerAddons.saveRefreshedTokens(input.uuid, stale, first.accessTokenExpiresAt)).toBe(false);
    expect((await store.partnerAddons.get(input.uuid))?.tokens).toEqual(second);
  });

  it('counts token failures and clears them on success', async () => {
    const input = request();
    await store.partnerAddons.create(input);
    await store.partnerAddons.recordTokenFailure(input.uuid, 'cannot exchange the OAuth grant: Heroku answered 503');
    await store.partnerAddons.recordTokenFailure(input.uuid, 'cannot exchange the OAuth grant: Heroku answered 503');
    expect(await store.partnerAddons.get(input.uuid)).toMatchObject({ tokenFailures: 2, tokenError: 'cannot exchange the OAuth grant: Heroku answered 503' });
    await store.partnerAddons.saveExchangedTokens(input.uuid, { accessToken: 'a', refreshToken: 'r', accessTokenExpiresAt: new Date() }, new Date());
    expect(await store.partnerAddons.get(input.uuid)).toMatchObject({ tokenFailures: 0, tokenError: null });
  });

  it('changes plans, deprovisions once, and records each action to Heroku once', async () => {
    const input = request();
    await store.partnerAddons.create(input);
    const at = new Date('2026-01-01T00:00:00Z');
    expect((await store.partnerAddons.changePlan(input.uuid, 'versioned', at))).toMatchObject({ plan: 'versioned', planChangedAt: at });
    expect(await store.partnerAddons.changePlan(randomUUID(), 'versioned', at)).toBeNull();

    expect(await store.partnerAddons.markProvisionedSent(input.uuid, at)).toBe(true);
    expect(await store.partnerAddons.markProvisionedSent(input.uuid, new Date())).toBe(false);
    expect(await store.partnerAddons.get(input.uuid)).toMatchObject({ state: 'provisioned', provisionedSentAt: at });

    const gone = await store.partnerAddons.markDeprovisioned(input.uuid, at, new Date(at.getTime() + 300_000));
    expect(gone).toMatchObject({ state: 'deprovisioned', deprovisionedAt: at, deleteAfter: new Date(at.getTime() + 300_000) });
    const later = new Date(at.getTime() + 60_000);
    const again = await store.partnerAddons.markDeprovisioned(input.uuid, later, new Date(later.getTime() + 300_000));
    expect(again).toMatchObject({ deprovisionedAt: at, deleteAfter: new Date(at.getTime() + 300_000) });
    expect(await store.partnerAddons.markDeprovisioned(randomUUID(), at, at)).toBeNull();

    const failing = request();
    await store.partnerAddons.create(failing);
    expect(await store.partnerAddons.markFailedSent(failing.uuid, 'the team is not linked', at)).toBe(true);
    expect(await store.partnerAddons.markFailedSent(failing.uuid, 'again', at)).toBe(false);
    expect(await store.partnerAddons.get(failing.uuid)).toMatchObject({ state: 'failed', failureReason: 'the team is not linked', failedSentAt: at });
  });

  it('re-encrypts the grant and tokens under a new first key', async () => {
    const input = request();
    await store.partnerAddons.create(input);
    await store.partnerAddons.saveExchangedTokens(input.uuid, { accessToken: 'acc', refreshToken: 'ref', accessTokenExpiresAt: new Date('2030-01-01T00:00:00Z') }, new Date());
    const key2 = newKey();
    // The other rows of this database were written with key1 too: every one is re-encrypted.
    const rotated = new Store(store.db, SecretBox.fromKeys([key2, key1]));
    expect(await rotated.partnerAddons.reencryptAll()).toBeGreaterThan(0);
    expect(await rotated.partnerAddons.reencryptAll()).toBe(0);
    const onlyNew = new Store(store.db, SecretBox.fromKeys([key2]));
    expect((await onlyNew.partnerAddons.get(input.uuid))?.tokens?.accessToken).toBe('acc');
  });
});
