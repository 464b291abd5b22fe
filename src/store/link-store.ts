/** Team↔account links. The secret access key and the external id are stored Fernet-encrypted. */
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db, Link, LinkAuth } from './types.js';

/** What {@link LinkStore.save} takes: a link without its timestamps. */
export type LinkInput = Omit<Link, 'createdAt' | 'updatedAt'>;

interface LinkRow {
  team_id: string;
  team_name: string;
  account_id: string;
  region: string | null;
  auth_kind: 'keys' | 'role';
  access_key_id: string | null;
  secret_access_key_enc: string | null;
  role_arn: string | null;
  external_id_enc: string | null;
  access_key_created_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `team_id, team_name, account_id, region, auth_kind, access_key_id,
  secret_access_key_enc, role_arn, external_id_enc, access_key_created_at, created_at, updated_at`;

export class LinkStore {
  readonly #db: Db;
  readonly #box: SecretBox;

  constructor(db: Db, box: SecretBox) {
    this.#db = db;
    this.#box = box;
  }

  /** Creates or replaces the link of `link.teamId` (created_at is kept on replace). */
  async save(link: LinkInput): Promise<Link> {
    const auth = link.auth;
    const keys = auth.kind === 'keys' ? auth : null;
    const role = auth.kind === 'role' ? auth : null;
    const rows = await this.#db.query<LinkRow>(
      `INSERT INTO links (team_id, team_name, account_id, region, auth_kind, access_key_id,
         secret_access_key_enc, role_arn, external_id_enc, access_key_created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamptz)
       ON CONFLICT (team_id) DO UPDATE SET
         team_name = EXCLUDED.team_name, account_id = EXCLUDED.account_id,
         region = EXCLUDED.region, auth_kind = EXCLUDED.auth_kind,
         access_key_id = EXCLUDED.access_key_id,
         secret_access_key_enc = EXCLUDED.secret_access_key_enc,
         role_arn = EXCLUDED.role_arn, external_id_enc = EXCLUDED.external_id_enc,
         access_key_created_at = CASE WHEN links.access_key_id IS NOT DISTINCT FROM EXCLUDED.access_key_id
           THEN COALESCE(EXCLUDED.access_key_created_at, links.access_key_created_at)
           ELSE EXCLUDED.access_key_created_at END,
         updated_at = now()
       RETURNING ${COLUMNS}`,
      [
        link.teamId,
        link.teamName,
        link.accountId,
        link.region,
        auth.kind,
        keys?.accessKeyId ?? null,
        keys ? this.#box.encrypt(keys.secretAccessKey) : null,
        role?.roleArn ?? null,
        role?.externalId != null ? this.#box.encrypt(role.externalId) : null,
        keys ? (link.accessKeyCreatedAt ?? null) : null,
      ],
    );
    return this.#toLink(one(rows));
  }

  /**
   * Replaces the access key of a link by keys, and with it the team's name, region and the key's
   * creation time; everything else (account, created_at) is kept. Compare-and-set: only while the
   * link is still the one `expected` names (same account, same old key id), else null and nothing
   * changed, so a concurrent link, unlink or rotation is never overwritten.
   */
  async replaceKey(
    teamId: string,
    expected: { accountId: string; accessKeyId: string },
    next: { teamName: string; region: string | null; auth: Extract<LinkAuth, { kind: 'keys' }>; accessKeyCreatedAt: Date | null },
  ): Promise<Link | null> {
    const rows = await this.#db.query<LinkRow>(
      `UPDATE links SET team_name = $4, region = $5, access_key_id = $6, secret_access_key_enc = $7,
         access_key_created_at = $8::timestamptz, updated_at = now()
       WHERE team_id = $1 AND auth_kind = 'keys' AND account_id = $2 AND access_key_id = $3
       RETURNING ${COLUMNS}`,
      [
        teamId,
        expected.accountId,
        expected.accessKeyId,
        next.teamName,
        next.region,
        next.auth.accessKeyId,
        this.#box.encrypt(next.auth.secretAccessKey),
        next.accessKeyCreatedAt,
      ],
    );
    return rows[0] ? this.#toLink(rows[0]) : null;
  }

  /** Deletes the link of `teamId`; false if there was none. */
  async remove(teamId: string): Promise<boolean> {
    const rows = await this.#db.query('DELETE FROM links WHERE team_id = $1 RETURNING team_id', [
      teamId,
    ]);
    return rows.length > 0;
  }

  /** Every link, decrypted, ordered by team name. */
  async list(): Promise<Link[]> {
    const rows = await this.#db.query<LinkRow>(
      `SELECT ${COLUMNS} FROM links ORDER BY lower(team_name), team_id`,
    );
    return rows.map((row) => this.#toLink(row));
  }

  async get(teamId: string): Promise<Link | null> {
    const rows = await this.#db.query<LinkRow>(`SELECT ${COLUMNS} FROM links WHERE team_id = $1`, [
      teamId,
    ]);
    return rows[0] ? this.#toLink(rows[0]) : null;
  }

  /**
   * The link of a team given by id or by name (names compared case-insensitively). An id match
   * wins; among several name matches (possible briefly after a rename) the newest wins.
   */
  async findByTeam(nameOrId: string): Promise<Link | null> {
    const rows = await this.#db.query<LinkRow>(
      `SELECT ${COLUMNS} FROM links
       WHERE team_id = $1 OR lower(team_name) = lower($1)
       ORDER BY (team_id = $1) DESC, updated_at DESC
       LIMIT 1`,
      [nameOrId],
    );
    return rows[0] ? this.#toLink(rows[0]) : null;
  }

  /** Re-encrypts stored secrets not encrypted with the first key; returns how many changed. */
  async reencryptAll(): Promise<number> {
    const rows = await this.#db.query<LinkRow>(`SELECT ${COLUMNS} FROM links`);
    let changed = 0;
    for (const row of rows) {
      const secret = this.#rotate(row.secret_access_key_enc, row.team_id, 'secret_access_key_enc');
      const external = this.#rotate(row.external_id_enc, row.team_id, 'external_id_enc');
      if (secret === row.secret_access_key_enc && external === row.external_id_enc) continue;
      // Compare-and-set: a concurrent save() wins over this rewrite.
      const updated = await this.#db.query(
        `UPDATE links SET secret_access_key_enc = $2, external_id_enc = $3
         WHERE team_id = $1 AND secret_access_key_enc IS NOT DISTINCT FROM $4
           AND external_id_enc IS NOT DISTINCT FROM $5
         RETURNING team_id`,
        [row.team_id, secret, external, row.secret_access_key_enc, row.external_id_enc],
      );
      changed += updated.length;
    }
    return changed;
  }

  #rotate(token: string | null, teamId: string, column: string): string | null {
    if (token === null || !this.#box.needsReencrypt(token)) return token;
    return this.#box.reencrypt(token, `links.${column} of team ${teamId}`);
  }

  #toLink(row: LinkRow): Link {
    const context = (column: string): string => `links.${column} of team ${row.team_id}`;
    let auth: LinkAuth;
    if (row.auth_kind === 'keys') {
      auth = {
        kind: 'keys',
        accessKeyId: row.access_key_id ?? '',
        secretAccessKey: this.#box.decrypt(
          row.secret_access_key_enc ?? '',
          context('secret_access_key_enc'),
        ),
      };
    } else {
      auth = {
        kind: 'role',
        roleArn: row.role_arn ?? '',
        externalId:
          row.external_id_enc === null
            ? null
            : this.#box.decrypt(row.external_id_enc, context('external_id_enc')),
      };
    }
    return {
      teamId: row.team_id,
      teamName: row.team_name,
      accountId: row.account_id,
      ...(row.access_key_created_at ? { accessKeyCreatedAt: row.access_key_created_at } : {}),
      region: row.region,
      auth,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

function one<T>(rows: T[]): T {
  const row = rows[0];
  if (row === undefined) throw new Error('the database returned no row for INSERT … RETURNING');
  return row;
}
