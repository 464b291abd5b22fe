import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox, SecretDecryptError } from '../../src/crypto/secret-box.js';
import type { ResourceInput } from '../../src/store/resource-store.js';
import { Store } from '../../src/store/store.js';
import type { LinkInput } from '../../src/store/link-store.js';
import { backends, newKey, uid, type BackendTarget } from './backends.js';

const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

function linkWithKeys(teamId = uid('team')): LinkInput {
  return {
    teamId,
    teamName: `Name-${teamId}`,
    accountId: '123456789012',
    region: 'eu-west-1',
    auth: { kind: 'keys', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: `${AWS_SECRET}-${teamId}` },
  };
}

function resource(overrides: Partial<ResourceInput> = {}): ResourceInput {
  const addonId = overrides.addonId ?? uid('addon');
  return {
    addonId,
    addonName: `s3-${addonId}`,
    accountId: '210987654321',
    teamId: 'team-1',
    appId: 'app-1',
    plan: 'private',
    kind: 'bucket',
    resourceName: `hs3-${addonId}`,
    region: 'us-east-1',
    userName: `hs3-${addonId}`,
    accessKeyId: null,
    secretAccessKey: null,
    resourceCreateStartedAt: null,
    state: 'pending',
    lastError: null,
    ...overrides,
  };
}

describe.each(backends)('store repositories on $name', (backend) => {
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

  it('opens with the migrations applied', async () => {
    expect(store.migrationsApplied).toContain('0001_initial');
    expect(store.db.kind).toBe(backend.name);
  });

  describe('LinkStore', () => {
    it('saves, gets, lists and removes links with keys or a role', async () => {
      const keys = linkWithKeys();
      const saved = await store.links.save(keys);
      expect(saved).toMatchObject(keys);
      expect(saved.createdAt).toBeInstanceOf(Date);
      expect(saved.updatedAt).toBeInstanceOf(Date);
      expect(await store.links.get(keys.teamId)).toEqual(saved);

      const role: LinkInput = {
        teamId: uid('team'),
        teamName: 'Role-Team',
        accountId: '111122223333',
        region: null,
        auth: { kind: 'role', roleArn: 'arn:aws:iam::111122223333:role/hs3', externalId: 'ext-123' },
      };
      expect(await store.links.save(role)).toMatchObject(role);
      const noExternal: LinkInput = { ...role, teamId: uid('team'), teamName: 'Role-Team-2', auth: { kind: 'role', roleArn: 'arn:aws:iam::111122223333:role/x', externalId: null } };
      expect((await store.links.save(noExternal)).auth).toEqual(noExternal.auth);

      const listed = await store.links.list();
      expect(listed.map((l) => l.teamId)).toEqual(
        expect.arrayContaining([keys.teamId, role.teamId, noExternal.teamId]),
      );
      expect(listed.find((l) => l.teamId === role.teamId)?.auth).toEqual(role.auth);

      expect(await store.links.remove(role.teamId)).toBe(true);
      expect(await store.links.remove(role.teamId)).toBe(false);
      expect(await store.links.get(role.teamId)).toBeNull();
    });

    it('upserts by team id, keeping created_at', async () => {
      const first = await store.links.save(linkWithKeys());
      await new Promise((r) => setTimeout(r, 20));
      const changed: LinkInput = {
        ...first,
        teamName: 'Renamed',
        auth: { kind: 'role', roleArn: 'arn:aws:iam::123456789012:role/r', externalId: 'e' },
      };
      const second = await store.links.save(changed);
      expect(second.createdAt.getTime()).toBe(first.createdAt.getTime());
      expect(second.updatedAt.getTime()).toBeGreaterThan(first.updatedAt.getTime());
      expect(second.teamName).toBe('Renamed');
      expect(second.auth).toEqual(changed.auth);
      const raw = await store.db.query<Record<string, unknown>>(
        'SELECT access_key_id, secret_access_key_enc FROM links WHERE team_id = $1',
        [first.teamId],
      );
      expect(raw).toEqual([{ access_key_id: null, secret_access_key_enc: null }]);
    });

    it('keeps when the linked key was made while the key stays the same; a new key or a role forgets it', async () => {
      const made = new Date('2026-06-01T00:00:00Z');
      const link = await store.links.save({ ...linkWithKeys(), accessKeyCreatedAt: made });
      expect(link.accessKeyCreatedAt?.toISOString()).toBe(made.toISOString());
      // Linked again with the same key, its age unread this time (ListAccessKeys refused): kept.
      expect((await store.links.save({ ...linkWithKeys(link.teamId), accessKeyCreatedAt: null })).accessKeyCreatedAt?.toISOString()).toBe(made.toISOString());
      const other = await store.links.save({ ...linkWithKeys(link.teamId), auth: { kind: 'keys', accessKeyId: 'AKIAOTHER', secretAccessKey: AWS_SECRET }, accessKeyCreatedAt: null });
      expect(other.accessKeyCreatedAt).toBeUndefined();
      await store.links.save({ ...linkWithKeys(link.teamId), accessKeyCreatedAt: made });
      const role = await store.links.save({ ...linkWithKeys(link.teamId), auth: { kind: 'role', roleArn: 'arn:aws:iam::1:role/r', externalId: null } });
      expect(role.accessKeyCreatedAt).toBeUndefined();
    });

    it('replaces a link\'s key only while it still holds the expected one (compare-and-set), keeping the account and link date', async () => {
      const link = await store.links.save({ ...linkWithKeys(), accessKeyCreatedAt: new Date('2026-01-01T00:00:00Z') });
      const made = new Date('2026-06-01T00:00:00Z');
      const next = { teamName: 'renamed', region: null, auth: { kind: 'keys' as const, accessKeyId: 'AKIANEW', secretAccessKey: `${AWS_SECRET}-new` }, accessKeyCreatedAt: made };
      // Another account, another old key, or a role link: nothing changes.
      expect(await store.links.replaceKey(link.teamId, { accountId: '999999999999', accessKeyId: 'AKIAEXAMPLE' }, next)).toBeNull();
      expect(await store.links.replaceKey(link.teamId, { accountId: link.accountId, accessKeyId: 'AKIAOTHER' }, next)).toBeNull();
      expect(await store.links.replaceKey(uid('team'), { accountId: link.accountId, accessKeyId: 'AKIAEXAMPLE' }, next)).toBeNull();
      expect(await store.links.get(link.teamId)).toEqual(link);

      const replaced = await store.links.replaceKey(link.teamId, { accountId: link.accountId, accessKeyId: 'AKIAEXAMPLE' }, next);
      expect(replaced).toMatchObject({ teamId: link.teamId, teamName: 'renamed', accountId: link.accountId, region: null, auth: next.auth, accessKeyCreatedAt: made, createdAt: link.createdAt });
      expect(await store.links.get(link.teamId)).toEqual(replaced);
      // The old key is no longer there to replace.
      expect(await store.links.replaceKey(link.teamId, { accountId: link.accountId, accessKeyId: 'AKIAEXAMPLE' }, next)).toBeNull();

      const role = await store.links.save({ ...linkWithKeys(), auth: { kind: 'role', roleArn: 'arn:aws:iam::1:role/r', externalId: null } });
      expect(await store.links.replaceKey(role.teamId, { accountId: role.accountId, accessKeyId: 'AKIAEXAMPLE' }, next)).toBeNull();
    });

    it('finds a team by id or by name, case-insensitively', async () => {
      const link = await store.links.save({ ...linkWithKeys(), teamName: 'Acme-Platform' });
      expect((await store.links.findByTeam(link.teamId))?.teamId).toBe(link.teamId);
      expect((await store.links.findByTeam('acme-platform'))?.teamId).toBe(link.teamId);
      expect(await store.links.findByTeam('nobody')).toBeNull();
    });

    it('stores the secret access key and external id encrypted', async () => {
      const link = linkWithKeys();
      await store.links.save(link);
      const [row] = await store.db.query<{ secret_access_key_enc: string }>(
        'SELECT secret_access_key_enc FROM links WHERE team_id = $1',
        [link.teamId],
      );
      const secret = link.auth.kind === 'keys' ? link.auth.secretAccessKey : '';
      expect(row!.secret_access_key_enc).not.toContain(secret);
      expect(row!.secret_access_key_enc).not.toContain('wJalr');
      expect(store.box.decrypt(row!.secret_access_key_enc)).toBe(secret);

      const role: LinkInput = {
        ...linkWithKeys(),
        auth: { kind: 'role', roleArn: 'arn:aws:iam::1:role/r', externalId: 'very-private-external-id' },
      };
      await store.links.save(role);
      const [roleRow] = await store.db.query<{ external_id_enc: string }>(
        'SELECT external_id_enc FROM links WHERE team_id = $1',
        [role.teamId],
      );
      expect(roleRow!.external_id_enc).not.toContain('very-private');
      expect(store.box.decrypt(roleRow!.external_id_enc)).toBe('very-private-external-id');
    });

    it('refuses a link row with both keys and a role (check constraint)', async () => {
      await expect(
        store.db.query(
          `INSERT INTO links (team_id, team_name, account_id, auth_kind, access_key_id,
             secret_access_key_enc, role_arn) VALUES ('x', 'x', '1', 'keys', 'a', 'b', 'c')`,
        ),
      ).rejects.toThrow(/links_auth_fields/);
    });
  });

  describe('ResourceStore', () => {
    it('upserts, gets and lists records; the secret is stored encrypted', async () => {
      const account = `acct-${uid('a')}`;
      const started = new Date('2025-01-02T03:04:05.678Z');
      const a = resource({
        accountId: account,
        accessKeyId: 'AKIAONE',
        secretAccessKey: AWS_SECRET,
        resourceCreateStartedAt: started,
      });
      const b = resource({ accountId: account });
      const savedA = await store.resources.upsert(a);
      expect(savedA).toMatchObject(a);
      expect(savedA.resourceCreateStartedAt?.toISOString()).toBe(started.toISOString());
      await store.resources.upsert(b);
      await store.resources.upsert(resource()); // another account

      expect(await store.resources.get(a.addonId)).toEqual(savedA);
      expect(await store.resources.get('missing')).toBeNull();
      const listed = await store.resources.listByAccount(account);
      expect(listed.map((r) => r.addonId)).toEqual([a.addonId, b.addonId].sort());
      expect((await store.resources.listAll()).length).toBeGreaterThanOrEqual(3);

      const [row] = await store.db.query<{ secret_access_key_enc: string }>(
        'SELECT secret_access_key_enc FROM managed_resources WHERE addon_id = $1',
        [a.addonId],
      );
      expect(row!.secret_access_key_enc).not.toContain(AWS_SECRET);
      expect(store.box.decrypt(row!.secret_access_key_enc)).toBe(AWS_SECRET);
    });

    it('replaces every field on upsert, keeping created_at', async () => {
      const first = await store.resources.upsert(resource({ secretAccessKey: AWS_SECRET, accessKeyId: 'AKIA1' }));
      const second = await store.resources.upsert({ ...first, plan: 'versioned', state: 'ready', accessKeyId: null, secretAccessKey: null });
      expect(second.createdAt.getTime()).toBe(first.createdAt.getTime());
      expect(second).toMatchObject({ plan: 'versioned', state: 'ready', accessKeyId: null, secretAccessKey: null });
    });

    it('keeps when the recorded key was made: set with the key, learnt once, kept while the key is the same', async () => {
      const made = new Date('2026-09-01T10:00:00Z');
      const r = await store.resources.upsert(resource({ accessKeyId: null, secretAccessKey: null }));
      expect(r.accessKeyCreatedAt).toBeNull();
      await store.resources.setKey(r.addonId, 'AKIAAGE1', AWS_SECRET, made);
      expect((await store.resources.get(r.addonId))?.accessKeyCreatedAt?.toISOString()).toBe(made.toISOString());
      // A rewrite of the record with the same key keeps it; another key forgets it.
      const same = await store.resources.upsert({ ...(await store.resources.get(r.addonId))!, accessKeyCreatedAt: undefined, plan: 'versioned' });
      expect(same.accessKeyCreatedAt?.toISOString()).toBe(made.toISOString());
      const other = await store.resources.upsert({ ...same, accessKeyId: 'AKIAAGE2', accessKeyCreatedAt: undefined });
      expect(other.accessKeyCreatedAt).toBeNull();
      // Learnt from a deep check: only for the recorded key, and only while unknown.
      expect(await store.resources.setKeyCreatedAt(r.addonId, 'AKIAAGE1', made)).toBe(false);
      expect(await store.resources.setKeyCreatedAt(r.addonId, 'AKIAAGE2', made)).toBe(true);
      expect(await store.resources.setKeyCreatedAt(r.addonId, 'AKIAAGE2', new Date())).toBe(false);
      expect((await store.resources.get(r.addonId))?.accessKeyCreatedAt?.toISOString()).toBe(made.toISOString());
      // A key adopted or set without a time has none.
      await store.resources.setKey(r.addonId, 'AKIAAGE3', AWS_SECRET);
      expect((await store.resources.get(r.addonId))?.accessKeyCreatedAt).toBeNull();
      await store.resources.remove(r.addonId);
    });

    it('sets key, state and bucket-create time; false for an unknown add-on', async () => {
      const r = await store.resources.upsert(resource());
      expect(await store.resources.setKey(r.addonId, 'AKIANEW', `${AWS_SECRET}2`)).toBe(true);
      expect(await store.resources.get(r.addonId)).toMatchObject({ accessKeyId: 'AKIANEW', secretAccessKey: `${AWS_SECRET}2` });
      expect(await store.resources.setKey(r.addonId, null, null)).toBe(true);
      expect(await store.resources.get(r.addonId)).toMatchObject({ accessKeyId: null, secretAccessKey: null });

      expect(await store.resources.setState(r.addonId, 'error', 'AccessDenied on CreateBucket')).toBe(true);
      expect(await store.resources.get(r.addonId)).toMatchObject({ state: 'error', lastError: 'AccessDenied on CreateBucket' });
      expect(await store.resources.setState(r.addonId, 'ready', null)).toBe(true);
      expect(await store.resources.get(r.addonId)).toMatchObject({ state: 'ready', lastError: null });

      const at = new Date();
      expect(await store.resources.setCreateStarted(r.addonId, r.resourceName!, at)).toBe(true);
      expect((await store.resources.get(r.addonId))?.resourceCreateStartedAt?.getTime()).toBe(at.getTime());

      expect(await store.resources.setKey('missing', 'A', 'B')).toBe(false);
      expect(await store.resources.setCreateStarted('missing', 'b', at)).toBe(false);
      expect(await store.resources.setState('missing', 'ready', null)).toBe(false);
      expect(await store.resources.remove(r.addonId)).toBe(true);
      expect(await store.resources.remove(r.addonId)).toBe(false);
    });

    it('keeps a kind\'s resource in its own row per (add-on, kind): none for a kind without one, gone with its record', async () => {
      const bucket = await store.resources.upsert(resource());
      const rows = (addonId: string) => store.db.query<{ kind: string; name: string }>('SELECT kind, name FROM kind_resources WHERE addon_id = $1', [addonId]);
      expect(await rows(bucket.addonId)).toEqual([{ kind: 'bucket', name: bucket.resourceName }]);

      const credentials = await store.resources.upsert(resource({ kind: 'credentials', resourceName: null }));
      expect(credentials).toMatchObject({ kind: 'credentials', resourceName: null, resourceCreateStartedAt: null });
      expect(await rows(credentials.addonId)).toEqual([]);
      // A record rewritten without its resource keeps no stale row; removing it removes its rows.
      await store.resources.upsert({ ...bucket, kind: 'credentials', resourceName: null });
      expect(await rows(bucket.addonId)).toEqual([]);
      // A bucket record whose row was lost (a store restored in part) gets it back when its
      // create is next sent, under the name given and the kind the record says.
      const lost = await store.resources.upsert(resource());
      await store.db.query('DELETE FROM kind_resources WHERE addon_id = $1', [lost.addonId]);
      expect(await store.resources.get(lost.addonId)).toMatchObject({ kind: 'bucket', resourceName: null });
      const at = new Date('2026-12-05T01:02:03.456Z');
      expect(await store.resources.setCreateStarted(lost.addonId, lost.resourceName!, at)).toBe(true);
      expect(await store.resources.get(lost.addonId)).toMatchObject({ resourceName: lost.resourceName, resourceCreateStartedAt: at });
      const again = await store.resources.upsert(resource());
      await store.resources.remove(again.addonId);
      expect(await rows(again.addonId)).toEqual([]);
    });

    it('refuses a second add-on claiming the same bucket or user', async () => {
      const r = await store.resources.upsert(resource());
      await expect(
        store.resources.upsert(resource({ resourceName: r.resourceName })),
      ).rejects.toMatchObject({ code: '23505' });
      await expect(
        store.resources.upsert(resource({ accountId: r.accountId, userName: r.userName })),
      ).rejects.toMatchObject({ code: '23505' });
    });
  });

  describe('change events (issue 17)', () => {
    it('finds an add-on by the bucket or user name its record holds in that account, and by nothing else', async () => {
      const account = '333344445555';
      const r = await store.resources.upsert(resource({ accountId: account }));
      expect((await store.resources.findByName(account, { resource: r.resourceName! }))?.addonId).toBe(r.addonId);
      expect((await store.resources.findByName(account, { user: r.userName }))?.addonId).toBe(r.addonId);
      expect(await store.resources.findByName('999988887777', { resource: r.resourceName! })).toBeNull();
      expect(await store.resources.findByName(account, { resource: r.userName + '-x' })).toBeNull();
      expect(await store.resources.findByName(account, { user: r.resourceName + '-x' })).toBeNull();
      await store.resources.upsert(resource({ accountId: account, region: 'eu-west-1' }));
      expect((await store.resources.regionsByAccount()).get(account)).toEqual(['eu-west-1', 'us-east-1']);
    });

    it('records a full check as an exposure check too, and an exposure check alone', async () => {
      const r = await store.resources.upsert(resource());
      const at = new Date('2026-12-05T10:00:00Z');
      await store.resources.setDeepChecked([r.addonId], at, 'full');
      expect(await store.resources.get(r.addonId)).toMatchObject({ deepCheckedAt: at, exposureCheckedAt: at });
      const later = new Date(at.getTime() + 900_000);
      await store.resources.setDeepChecked([r.addonId], later, 'exposure');
      expect(await store.resources.get(r.addonId)).toMatchObject({ deepCheckedAt: at, exposureCheckedAt: later });
      await store.resources.setDeepChecked([r.addonId], null);
      expect(await store.resources.get(r.addonId)).toMatchObject({ deepCheckedAt: null, exposureCheckedAt: null });
    });

    it('keeps one queue per account and region, updated in place, and forgets one region or all', async () => {
      const source = (region: string, queue = 'hsc-changes') => ({
        accountId: '444455556666',
        region,
        queueUrl: `https://sqs.${region}.amazonaws.com/444455556666/${queue}`,
        queueArn: `arn:aws:sqs:${region}:444455556666:${queue}`,
        ruleArns: [`arn:aws:events:${region}:444455556666:rule/hsc-changes`, `arn:aws:events:${region}:444455556666:rule/hsc-probe`],
      });
      await store.eventSources.put(source('us-east-1'));
      await store.eventSources.put(source('eu-west-1'));
      await store.eventSources.put(source('us-east-1', 'hsc-changes-2'));
      expect((await store.eventSources.forAccount('444455556666')).map((s) => [s.region, s.queueUrl])).toEqual([
        ['eu-west-1', 'https://sqs.eu-west-1.amazonaws.com/444455556666/hsc-changes'],
        ['us-east-1', 'https://sqs.us-east-1.amazonaws.com/444455556666/hsc-changes-2'],
      ]);
      expect(await store.eventSources.remove('444455556666', 'eu-west-1')).toBe(true);
      expect((await store.eventSources.list()).filter((s) => s.accountId === '444455556666').map((s) => s.region)).toEqual(['us-east-1']);
      expect(await store.eventSources.remove('444455556666')).toBe(true);
      expect(await store.eventSources.remove('444455556666')).toBe(false);
    });
  });

  describe('DeliveryStore', () => {
    it('records, replaces, lists and removes deliveries', async () => {
      const addonId = uid('addon');
      const d1 = await store.deliveries.record({
        addonId,
        attachmentId: 'att-b',
        appId: 'app-1',
        varNames: ['BUCKET_BUCKET_NAME', 'BUCKET_AWS_SECRET_ACCESS_KEY'],
        fingerprint: 'sha256:aaa',
      });
      expect(d1.deliveredAt).toBeInstanceOf(Date);
      const when = new Date('2025-03-04T05:06:07.000Z');
      await store.deliveries.record({ addonId, attachmentId: 'att-a', appId: 'app-2', varNames: [], fingerprint: 'f', deliveredAt: when });
      const hashes = { X_URL: 'e'.repeat(64) };
      const replaced = await store.deliveries.record({ ...d1, varNames: ['X_URL'], fingerprint: 'sha256:bbb', valueHashes: hashes });
      expect(replaced).toMatchObject({ varNames: ['X_URL'], fingerprint: 'sha256:bbb', valueHashes: hashes });

      const listed = await store.deliveries.listForAddon(addonId);
      expect(listed).toEqual([
        { addonId, attachmentId: 'att-a', appId: 'app-2', varNames: [], fingerprint: 'f', valueHashes: null, deliveredAt: when },
        replaced,
      ]);
      expect((await store.deliveries.listAll()).filter((d) => d.addonId === addonId)).toHaveLength(2);

      expect(await store.deliveries.remove(addonId, 'att-a')).toBe(true);
      expect(await store.deliveries.remove(addonId, 'att-a')).toBe(false);
      expect(await store.deliveries.removeForAddon(addonId)).toBe(1);
      expect(await store.deliveries.listForAddon(addonId)).toEqual([]);
    });
  });

  describe('Journal', () => {
    it('appends and lists newest last, filtered and limited', async () => {
      const addonId = uid('addon');
      const at = new Date('2025-06-01T00:00:00.000Z');
      const first = await store.journal.append({
        instanceId: 'ctl-1', accountId: '123456789012', addonId,
        action: 'create-bucket', resource: 'hs3-bucket', phase: 'intent', at,
      });
      expect(first.at.toISOString()).toBe(at.toISOString());
      expect(first.detail).toEqual({});
      expect(typeof first.id).toBe('number');
      for (const phase of ['ok', 'intent', 'failed'] as const) {
        await store.journal.append({
          instanceId: 'ctl-1', accountId: '123456789012', addonId, action: 'x', resource: 'r', phase,
          detail: { n: 1, nested: { list: [1, 'a'] } },
        });
      }
      await store.journal.append({ instanceId: 'ctl-1', accountId: null, addonId: null, action: 'link', resource: 'team', phase: 'ok' });

      const mine = await store.journal.list({ addonId });
      expect(mine.map((e) => e.phase)).toEqual(['intent', 'ok', 'intent', 'failed']);
      expect(mine[1]!.detail).toEqual({ n: 1, nested: { list: [1, 'a'] } });
      const ids = mine.map((e) => e.id);
      expect([...ids].sort((x, y) => x - y)).toEqual(ids);

      const lastTwo = await store.journal.list({ addonId, limit: 2 });
      expect(lastTwo.map((e) => e.phase)).toEqual(['intent', 'failed']);
      expect(await store.journal.list({ addonId, afterId: ids[2]! })).toHaveLength(1);
      const newest = await store.journal.list({ limit: 1 });
      expect(newest[0]?.action).toBe('link');
    });

    it('redacts secret-looking keys in detail', async () => {
      const entry = await store.journal.append({
        instanceId: 'ctl-1', accountId: null, addonId: null, action: 'create-access-key', resource: 'AKIAX', phase: 'ok',
        detail: { accessKeyId: 'AKIAX', secretAccessKey: AWS_SECRET, nested: [{ password: 'pw' }], note: 'fine' },
      });
      expect(entry.detail).toEqual({
        accessKeyId: 'AKIAX', secretAccessKey: '[redacted]', nested: [{ password: '[redacted]' }], note: 'fine',
      });
      const raw = await store.db.query<{ d: string }>('SELECT detail::text AS d FROM journal WHERE id = $1', [entry.id]);
      expect(raw[0]!.d).not.toContain(AWS_SECRET);
    });

    it('refuses to change or delete journal lines', async () => {
      const e = await store.journal.append({ instanceId: 'i', accountId: null, addonId: null, action: 'a', resource: 'r', phase: 'ok' });
      await expect(store.db.query(`UPDATE journal SET phase = 'failed' WHERE id = $1`, [e.id])).rejects.toThrow(/append-only/);
      await expect(store.db.query('DELETE FROM journal WHERE id = $1', [e.id])).rejects.toThrow(/append-only/);
      expect(await store.journal.list({ afterId: e.id - 1, limit: 1 })).toMatchObject([{ id: e.id, phase: 'ok' }]);
    });
  });

  describe('Store.transaction', () => {
    it('commits every repository write together', async () => {
      const link = linkWithKeys();
      const r = resource();
      await store.transaction(async (tx) => {
        await tx.links.save(link);
        await tx.resources.upsert(r);
        await tx.journal.append({ instanceId: 'i', accountId: null, addonId: r.addonId, action: 'tx', resource: 'r', phase: 'intent' });
      });
      expect(await store.links.get(link.teamId)).not.toBeNull();
      expect(await store.resources.get(r.addonId)).not.toBeNull();
    });

    it('rolls every write back when the function throws', async () => {
      const link = linkWithKeys();
      const r = resource();
      await expect(
        store.transaction(async (tx) => {
          await tx.links.save(link);
          await tx.resources.upsert(r);
          await tx.deliveries.record({ addonId: r.addonId, attachmentId: 'a', appId: 'b', varNames: [], fingerprint: 'f' });
          await tx.journal.append({ instanceId: 'i', accountId: null, addonId: r.addonId, action: 'tx', resource: 'r', phase: 'intent' });
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await store.links.get(link.teamId)).toBeNull();
      expect(await store.resources.get(r.addonId)).toBeNull();
      expect(await store.deliveries.listForAddon(r.addonId)).toEqual([]);
      expect(await store.journal.list({ addonId: r.addonId })).toEqual([]);
    });
  });

  describe('key rotation', () => {
    it('reads old secrets after a key is prepended and re-encrypts them with the new key', async () => {
      const link = await store.links.save(linkWithKeys());
      const res = await store.resources.upsert(resource({ accessKeyId: 'AKIAR', secretAccessKey: AWS_SECRET }));

      const key2 = newKey();
      const rotated = new Store(store.db, SecretBox.fromKeys([key2, key1]));
      expect(await rotated.links.get(link.teamId)).toEqual(link);
      expect((await rotated.resources.get(res.addonId))?.secretAccessKey).toBe(AWS_SECRET);

      const counts = await rotated.reencryptSecrets();
      expect(counts.links).toBeGreaterThanOrEqual(1);
      expect(counts.resources).toBeGreaterThanOrEqual(1);
      expect(await rotated.reencryptSecrets()).toEqual({ links: 0, resources: 0, partnerAddons: 0 });

      // Now the old key can go.
      const newOnly = new Store(store.db, SecretBox.fromKeys([key2]));
      expect((await newOnly.links.get(link.teamId))?.auth).toEqual(link.auth);
      expect((await newOnly.resources.get(res.addonId))?.secretAccessKey).toBe(AWS_SECRET);
      expect((await newOnly.links.list()).length).toBeGreaterThan(0);
    });

    it('fails clearly, naming the row but no secret, when no key fits', async () => {
      const link = await store.links.save(linkWithKeys());
      const stranger = new Store(store.db, SecretBox.fromKeys([newKey()]));
      const err = await stranger.links.get(link.teamId).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(SecretDecryptError);
      expect((err as Error).message).toBe(
        'cannot decrypt a stored secret with any key in FERNET_KEYS; was a key removed? ' +
          `(links.secret_access_key_enc of team ${link.teamId})`,
      );
      expect((err as Error).message).not.toContain(AWS_SECRET);
    });
  });

  it('persists across close and reopen, applying no migration the second time', async () => {
    const link = await store.links.save(linkWithKeys());
    await store.close();
    store = await Store.open({ ...target, fernetKeys: key1 });
    expect(store.migrationsApplied).toEqual([]);
    expect(await store.links.get(link.teamId)).toEqual(link);
  });
});

describe('Store.open', () => {
  it('checks FERNET_KEYS before touching the database', async () => {
    await expect(
      Store.open({ dataDir: '/nonexistent/never-created', fernetKeys: 'bad-key' }),
    ).rejects.toThrow(/the key in FERNET_KEYS is not 32 bytes of base64/);
  });
});
