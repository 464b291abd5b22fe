/**
 * `token create`, `tokens` and `token revoke` through the built binary on PostgreSQL: a token is
 * printed once and stored only as a hash, listings never show it, a revoked token is refused, and
 * bad input is one line with exit code 2 that changes nothing.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { apiTokenAuthenticator } from '../../src/http/authentication.js';
import { Store } from '../../src/store/store.js';
import { runCli } from '../support/cli.js';
import { freshPostgresDatabase, type FreshDatabase } from '../support/stand.js';

let db: FreshDatabase;
let env: Record<string, string>;
let store: Store;

beforeAll(async () => {
  db = await freshPostgresDatabase('tokens');
  env = { DATABASE_URL: db.url, FERNET_KEYS: SecretBox.generateKey() };
  store = await Store.open({ databaseUrl: db.url, dataDir: '/nonexistent', fernetKeys: env.FERNET_KEYS! });
});

afterAll(async () => {
  await store?.close();
  await db?.drop();
});

async function tableText(): Promise<string> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return JSON.stringify((await client.query('SELECT * FROM api_tokens')).rows);
  } finally {
    await client.end();
  }
}

describe('operator API tokens', () => {
  it('prints a token once, keeps only its hash, lists it without it, and refuses it once revoked', async () => {
    const made = await runCli(['token', 'create', '--name', 'grafana-reader', '--scope', 'read', '--expires-in', '90d'], env);
    expect(made.code, made.stderr).toBe(0);
    const token = made.stdout.split('\n')[0]!;
    expect(token).toMatch(/^hs3c_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(made.stdout).toMatch(/Made read token "grafana-reader" \(id [0-9a-f]{12}, expires \d{4}-.*It is shown only now/s);
    const auth = apiTokenAuthenticator(store.apiTokens);
    expect(await auth.fromBearerToken(token)).toMatchObject({ kind: 'operator', name: 'grafana-reader', scope: 'read' });

    // The secret part is everything after the id: base64url may hold '_' itself, so no split('_')
    // (which once left a one-letter "secret" that a hash happened to contain).
    const [, id, secret] = /^hs3c_([0-9a-f]{12})_(.+)$/.exec(token)!;
    const stored = await tableText();
    expect(stored).not.toContain(secret);
    expect(stored).toContain(id);

    const listed = await runCli(['tokens', '-o', 'json'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(secret);
    const [row] = JSON.parse(listed.stdout);
    expect(row).toMatchObject({ name: 'grafana-reader', scope: 'read', state: 'live', createdBy: expect.stringMatching(/^cli:/), lastUsedAt: expect.any(String) });
    expect(Object.keys(row)).not.toContain('secretSha256');
    const table = await runCli(['tokens'], env);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+SCOPE\s+STATE/);

    const taken = await runCli(['token', 'create', '--name', 'grafana-reader', '--scope', 'write'], env);
    expect(taken.code).toBe(2);
    expect(taken.stderr.trim()).toMatch(/^heroku-s3-controller: a live token is already named "grafana-reader": revoke it first/);

    const revoked = await runCli(['token', 'revoke', 'grafana-reader'], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(/^Revoked token "grafana-reader"/);
    expect(await auth.fromBearerToken(token)).toBeNull();
    expect((await runCli(['token', 'revoke', 'grafana-reader'], env)).code).toBe(2);
    expect(JSON.parse((await runCli(['tokens', '-o', 'json'], env)).stdout)[0]).toMatchObject({ state: 'revoked', revokedBy: expect.stringMatching(/^cli:/) });

    // The name is free again; the journal says who made and revoked what.
    expect((await runCli(['token', 'create', '--name', 'grafana-reader', '--scope', 'write', '-o', 'json'], env)).code).toBe(0);
    const lines = await store.journal.list({ action: 'token-revoke' });
    expect(lines).toEqual([expect.objectContaining({ resource: row.id, detail: expect.objectContaining({ actor: expect.stringMatching(/^cli:/), name: 'grafana-reader' }) })]);
  });

  it.each([
    [['token', 'create', '--name', 'Bad Name', '--scope', 'read'], /--name "Bad Name" must be 1-63 lowercase/],
    [['token', 'create', '--name', 'ok', '--scope', 'admin'], /--scope "admin" must be read .* or write/],
    [['token', 'create', '--name', 'ok', '--scope', 'read', '--expires-in', 'soon'], /--expires-in "soon" is not a duration/],
    [['token', 'revoke', 'nobody'], /no live token has the id or name "nobody"/],
    [['token', 'create', '--name', '0123456789ab', '--scope', 'read'], /--name "0123456789ab" looks like a token id/],
  ])('%j is one line, exit 2, nothing made', async (args, message) => {
    const before = await tableText();
    const result = await runCli(args, env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(await tableText()).toBe(before);
  });
});
