/**
 * Console sessions on PostgreSQL: only the id's hash and the Heroku token's Fernet token are
 * stored; a session ends at its expiry, when closed, or (an operator's) when its API token is
 * revoked or expires; sweeping forgets the expired rows only.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { Store } from '../../src/store/store.js';
import { freshPostgresDatabase, type FreshDatabase } from '../support/stand.js';

let db: FreshDatabase;
let store: Store;
const HEROKU_TOKEN = 'HRKU-CANARY-0f5e2c1a-heroku-user-token';

beforeAll(async () => {
  db = await freshPostgresDatabase('sessions');
  store = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: SecretBox.generateKey() });
});

afterAll(async () => {
  await store?.close();
  await db?.drop();
});

async function rows(): Promise<string> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return JSON.stringify((await client.query('SELECT * FROM console_sessions')).rows);
  } finally {
    await client.end();
  }
}

describe('console sessions', () => {
  it('keeps neither the id nor the Heroku token in clear, and ends at expiry or when closed', async () => {
    const t0 = new Date('2026-12-05T10:00:00Z');
    const id = await store.sessions.open(
      { kind: 'team-admin', email: 'ada@acme.example', herokuUserId: 'u1', adminTeams: [{ id: 't1', name: 'acme' }], herokuToken: HEROKU_TOKEN },
      new Date(t0.getTime() + 3_600_000),
    );
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await rows();
    expect(stored).not.toContain(id);
    expect(stored).not.toContain(HEROKU_TOKEN);
    expect(await store.sessions.find(id, t0)).toMatchObject({ kind: 'team-admin', email: 'ada@acme.example', adminTeams: [{ id: 't1', name: 'acme' }], herokuToken: HEROKU_TOKEN });
    expect(await store.sessions.find(id, new Date(t0.getTime() + 3_600_000))).toBeNull();
    expect(await store.sessions.find('x'.repeat(43), t0)).toBeNull();
    expect(await store.sessions.find('not an id', t0)).toBeNull();

    const other = await store.sessions.open({ kind: 'team-admin', email: 'b@acme.example', herokuUserId: 'u2', adminTeams: [], herokuToken: 't' }, new Date(t0.getTime() + 7_200_000));
    await store.sessions.close(other);
    expect(await store.sessions.find(other, t0)).toBeNull();

    // Sweeping at t0 + 1 h forgets the expired session only.
    const live = await store.sessions.open({ kind: 'team-admin', email: 'c@acme.example', herokuUserId: 'u3', adminTeams: [], herokuToken: 't' }, new Date(t0.getTime() + 7_200_000));
    expect(await store.sessions.sweep(new Date(t0.getTime() + 3_600_000))).toBe(1);
    expect(await store.sessions.find(live, t0)).not.toBeNull();
  });

  it('a session sealed with a Fernet key no longer in FERNET_KEYS is no session, and is ended', async () => {
    const id = await store.sessions.open({ kind: 'team-admin', email: 'd@acme.example', herokuUserId: 'u4', adminTeams: [], herokuToken: HEROKU_TOKEN }, new Date(Date.now() + 3_600_000));
    const rotated = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: SecretBox.generateKey() });
    try {
      expect(await rotated.sessions.find(id, new Date())).toBeNull();
    } finally {
      await rotated.close();
    }
    expect(await store.sessions.find(id, new Date())).toBeNull();
  });

  it('an operator session lasts only while its API token is live', async () => {
    const now = new Date();
    const made = await store.apiTokens.create({ name: 'session-op', scope: 'read', createdBy: 'test', expiresAt: new Date(now.getTime() + 60_000) });
    const id = await store.sessions.open({ kind: 'operator', tokenId: made.record.id, tokenName: 'session-op', scope: 'read' }, new Date(now.getTime() + 3_600_000));
    expect(await store.sessions.find(id, now)).toMatchObject({ kind: 'operator', tokenName: 'session-op', scope: 'read' });
    // The token expires before the session would.
    expect(await store.sessions.find(id, new Date(now.getTime() + 61_000))).toBeNull();
    const second = await store.apiTokens.create({ name: 'session-op-2', scope: 'write', createdBy: 'test', expiresAt: null });
    const id2 = await store.sessions.open({ kind: 'operator', tokenId: second.record.id, tokenName: 'session-op-2', scope: 'write' }, new Date(now.getTime() + 3_600_000));
    expect(await store.sessions.find(id2, now)).not.toBeNull();
    await store.apiTokens.revoke('session-op-2', 'test', now);
    expect(await store.sessions.find(id2, now)).toBeNull();
  });
});
