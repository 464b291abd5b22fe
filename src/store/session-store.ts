/**
 * Console sessions: made at sign-in, looked up by the cookie's id on every console request,
 * deleted at sign-out. The id is 32 random bytes; only its sha256 is stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from './types.js';

export interface TeamRef {
  id: string;
  name: string;
}

export type SessionSubject =
  | { kind: 'team-admin'; email: string; herokuUserId: string; adminTeams: TeamRef[]; herokuToken: string }
  | { kind: 'operator'; tokenId: string; tokenName: string; scope: 'read' | 'write' };

/** A live session; a team admin's says when Heroku was last asked which teams they administer. */
export type Session = SessionSubject & { expiresAt: Date; checkedAt?: Date };

interface SessionRow {
  kind: 'team-admin' | 'operator';
  subject: string;
  heroku_user_id: string | null;
  admin_teams: TeamRef[];
  heroku_token_enc: string | null;
  token_id: string | null;
  expires_at: Date;
  checked_at: Date;
  token_scope: 'read' | 'write' | null;
  token_live: boolean | null;
}

export class SessionStore {
  readonly #db: Db;
  readonly #box: SecretBox;

  constructor(db: Db, box: SecretBox) {
    this.#db = db;
    this.#box = box;
  }

  /** Opens a session; the id returned goes into the cookie and is stored nowhere. */
  async open(subject: SessionSubject, expiresAt: Date): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.#db.query(
      `INSERT INTO console_sessions (id_sha256, kind, subject, heroku_user_id, admin_teams, heroku_token_enc, token_id, expires_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)`,
      subject.kind === 'team-admin'
        ? [digest(id), subject.kind, subject.email, subject.herokuUserId, JSON.stringify(subject.adminTeams), this.#box.encrypt(subject.herokuToken), null, expiresAt]
        : [digest(id), subject.kind, subject.tokenName, null, '[]', null, subject.tokenId, expiresAt],
    );
    return id;
  }

  /**
   * The live session of this id, or null: unknown, expired, or opened with an API token that has
   * since been revoked or has expired.
   */
  async find(id: string, now: Date): Promise<Session | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const rows = await this.#db.query<SessionRow>(
      `SELECT s.kind, s.subject, s.heroku_user_id, s.admin_teams, s.heroku_token_enc, s.token_id, s.expires_at, s.checked_at,
              t.scope AS token_scope,
              (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)) AS token_live
       FROM console_sessions s LEFT JOIN api_tokens t ON t.id = s.token_id
       WHERE s.id_sha256 = $1 AND s.expires_at > $2`,
      [digest(id), now],
    );
    const row = rows[0];
    if (!row) return null;
    if (row.kind === 'operator') {
      if (!row.token_live || row.token_id === null || row.token_scope === null) return null;
      return { kind: 'operator', tokenId: row.token_id, tokenName: row.subject, scope: row.token_scope, expiresAt: row.expires_at };
    }
    let herokuToken: string;
    try {
      herokuToken = this.#box.decrypt(row.heroku_token_enc ?? '');
    } catch {
      // FERNET_KEYS no longer holds the key it was sealed with: the session cannot be used; end it.
      await this.close(id);
      return null;
    }
    return { kind: 'team-admin', email: row.subject, herokuUserId: row.heroku_user_id ?? '', adminTeams: row.admin_teams, herokuToken, expiresAt: row.expires_at, checkedAt: row.checked_at };
  }

  /** What Heroku says the admin administers now, as asked again at `at`. */
  async recheck(id: string, adminTeams: TeamRef[], at: Date): Promise<void> {
    await this.#db.query('UPDATE console_sessions SET admin_teams = $2::jsonb, checked_at = $3 WHERE id_sha256 = $1', [digest(id), JSON.stringify(adminTeams), at]);
  }

  async close(id: string): Promise<void> {
    await this.#db.query('DELETE FROM console_sessions WHERE id_sha256 = $1', [digest(id)]);
  }

  /** Forgets expired sessions; returns how many. */
  async sweep(now: Date): Promise<number> {
    const rows = await this.#db.query('DELETE FROM console_sessions WHERE expires_at <= $1 RETURNING id_sha256', [now]);
    return rows.length;
  }
}

function digest(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}
