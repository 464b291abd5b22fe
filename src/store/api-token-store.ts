/** Operator API tokens: made and revoked by the CLI, checked on every private-listener request. */
import { generateApiToken, parseApiToken, secretMatches } from '../crypto/api-token.js';
import type { Db } from './types.js';

export type ApiTokenScope = 'read' | 'write';

/** A token as stored: never its secret. */
export interface ApiTokenRecord {
  id: string;
  name: string;
  scope: ApiTokenScope;
  createdAt: Date;
  createdBy: string;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

interface ApiTokenRow {
  id: string;
  name: string;
  scope: ApiTokenScope;
  secret_sha256: string;
  created_at: Date;
  created_by: string;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

const COLUMNS = 'id, name, scope, secret_sha256, created_at, created_by, expires_at, last_used_at, revoked_at, revoked_by';

/** A live token's name already taken (the unique index refused it). */
export class TokenNameTakenError extends Error {}

export class ApiTokenStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Makes a token; its whole value is returned this once and kept nowhere. */
  async create(input: { name: string; scope: ApiTokenScope; createdBy: string; expiresAt: Date | null }): Promise<{ token: string; record: ApiTokenRecord }> {
    const made = generateApiToken();
    try {
      const rows = await this.#db.query<ApiTokenRow>(
        `INSERT INTO api_tokens (id, name, scope, secret_sha256, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
        [made.id, input.name, input.scope, made.secretSha256, input.createdBy, input.expiresAt],
      );
      return { token: made.token, record: toRecord(rows[0]!) };
    } catch (err) {
      if (/api_tokens_live_name/.test(String((err as Error).message))) throw new TokenNameTakenError(input.name);
      throw err;
    }
  }

  /** Every token, live ones first, newest first. */
  async list(): Promise<ApiTokenRecord[]> {
    const rows = await this.#db.query<ApiTokenRow>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY revoked_at IS NOT NULL, created_at DESC, id`);
    return rows.map(toRecord);
  }

  /**
   * Revokes one live token: the one with this id, else the one with this name; null when there is
   * none. (Names cannot look like ids, and one name has one live token.)
   */
  async revoke(idOrName: string, by: string, at: Date): Promise<ApiTokenRecord | null> {
    for (const column of ['id', 'name'] as const) {
      const rows = await this.#db.query<ApiTokenRow>(
        `UPDATE api_tokens SET revoked_at = $3, revoked_by = $2
         WHERE ${column} = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
        [idOrName, by, at],
      );
      if (rows[0]) return toRecord(rows[0]);
    }
    return null;
  }

  /**
   * The live, unexpired token this string is, or null. Its last use is written at most once a
   * minute, so a busy scraper does not make a write per request.
   */
  async verify(token: string, now: Date): Promise<ApiTokenRecord | null> {
    const parsed = parseApiToken(token);
    if (!parsed) return null;
    const rows = await this.#db.query<ApiTokenRow>(`SELECT ${COLUMNS} FROM api_tokens WHERE id = $1`, [parsed.id]);
    const row = rows[0];
    if (!row || !secretMatches(parsed.secret, row.secret_sha256)) return null;
    if (row.revoked_at !== null || (row.expires_at !== null && row.expires_at.getTime() <= now.getTime())) return null;
    if (row.last_used_at === null || now.getTime() - row.last_used_at.getTime() >= 60_000) {
      await this.#db.query('UPDATE api_tokens SET last_used_at = $2 WHERE id = $1', [row.id, now]);
      row.last_used_at = now;
    }
    return toRecord(row);
  }
}

function toRecord(row: ApiTokenRow): ApiTokenRecord {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
  };
}
