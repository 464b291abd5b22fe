/**
 * The append-only journal: an intent line before every mutation, an outcome line after. The
 * table refuses UPDATE, DELETE and TRUNCATE (trigger), so history cannot be rewritten.
 */
import type { Db, JournalEntry } from './types.js';

/** A stored journal line: the entry plus its sequence number and time. */
export interface JournalRecord extends JournalEntry {
  id: number;
  at: Date;
  detail: Record<string, unknown>;
}

export interface JournalListOptions {
  addonId?: string;
  accountId?: string;
  /** Only lines of this action (`create-bucket`, `link`, `gc-approve`, …). */
  action?: string;
  /** Only lines made by this actor (`token:NAME`, `heroku:EMAIL`, `cli:LOGIN`), kept in `detail.actor`. */
  actor?: string;
  /** Only lines after this id (for tailing). */
  afterId?: number;
  /** Only lines before this id (for paging back). */
  beforeId?: number;
  /** The newest `limit` lines (default 100, at most 10,000). */
  limit?: number;
}

interface JournalRow {
  id: number | bigint | string;
  at: Date;
  instance_id: string;
  account_id: string | null;
  addon_id: string | null;
  action: string;
  resource: string;
  phase: JournalEntry['phase'];
  detail: Record<string, unknown> | null;
}

const COLUMNS = 'id, at, instance_id, account_id, addon_id, action, resource, phase, detail';
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;

/** Detail keys whose values are replaced by "[redacted]": a last guard for invariant 8. */
const SECRET_KEY = /secret|password|passphrase|private_?key|credential|session_?token|^token$/i;

/** A copy of `value` with the values of secret-looking keys replaced, at any depth. */
export function redactDetail(value: unknown, depth = 0): unknown {
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((v) => redactDetail(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && v !== null && v !== undefined
      ? '[redacted]'
      : redactDetail(v, depth + 1);
  }
  return out;
}

export class Journal {
  readonly #db: Db;

  /** `box` is accepted for symmetry with the other repositories; the journal holds no secret. */
  constructor(db: Db, _box?: unknown) {
    this.#db = db;
  }

  /** Appends one line. Values under secret-looking keys of `detail` are redacted first. */
  async append(entry: JournalEntry): Promise<JournalRecord> {
    const detail = redactDetail(entry.detail ?? {});
    const rows = await this.#db.query<JournalRow>(
      `INSERT INTO journal (at, instance_id, account_id, addon_id, action, resource, phase, detail)
       VALUES (COALESCE($1::timestamptz, now()), $2, $3, $4, $5, $6, $7, $8::jsonb)
       RETURNING ${COLUMNS}`,
      [
        entry.at ?? null,
        entry.instanceId,
        entry.accountId,
        entry.addonId,
        entry.action,
        entry.resource,
        entry.phase,
        JSON.stringify(detail),
      ],
    );
    const row = rows[0];
    if (!row) throw new Error('the database returned no row for INSERT … RETURNING');
    return toRecord(row);
  }

  /**
   * How many times each (add-on, action, resource, reason) succeeded since `since`, keyed
   * `addonId|action|resource|reason`: the drift-loop breaker's view of how often we repaired one
   * drift. The reason keeps a resource's creation (reason `missing-bucket`) from counting as a
   * repair of one of its settings.
   */
  async countSucceededSince(since: Date): Promise<Map<string, number>> {
    const rows = await this.#db.query<{ addon_id: string; action: string; resource: string; reason: string | null; n: number | string }>(
      `SELECT addon_id, action, resource, detail->>'reason' AS reason, count(*) AS n FROM journal
       WHERE phase = 'ok' AND at >= $1::timestamptz AND addon_id IS NOT NULL
       GROUP BY addon_id, action, resource, detail->>'reason'`,
      [since],
    );
    return new Map(rows.map((r) => [`${r.addon_id}|${r.action}|${r.resource}|${r.reason ?? ''}`, Number(r.n)]));
  }

  /** The newest `limit` lines matching the filters, returned oldest first (newest last). */
  async list(opts: JournalListOptions = {}): Promise<JournalRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (opts.addonId !== undefined) {
      params.push(opts.addonId);
      where.push(`addon_id = $${params.length}`);
    }
    if (opts.accountId !== undefined) {
      params.push(opts.accountId);
      where.push(`account_id = $${params.length}`);
    }
    if (opts.action !== undefined) {
      params.push(opts.action);
      where.push(`action = $${params.length}`);
    }
    if (opts.actor !== undefined) {
      params.push(opts.actor);
      where.push(`detail->>'actor' = $${params.length}`);
    }
    if (opts.afterId !== undefined) {
      params.push(opts.afterId);
      where.push(`id > $${params.length}`);
    }
    if (opts.beforeId !== undefined) {
      params.push(opts.beforeId);
      where.push(`id < $${params.length}`);
    }
    const limit = Math.max(1, Math.min(MAX_LIMIT, Math.floor(opts.limit ?? DEFAULT_LIMIT)));
    params.push(limit);
    const rows = await this.#db.query<JournalRow>(
      `SELECT ${COLUMNS} FROM (
         SELECT ${COLUMNS} FROM journal
         ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY id DESC LIMIT $${params.length}
       ) newest ORDER BY id`,
      params,
    );
    return rows.map(toRecord);
  }
}

function toRecord(row: JournalRow): JournalRecord {
  return {
    id: Number(row.id),
    at: row.at,
    instanceId: row.instance_id,
    accountId: row.account_id,
    addonId: row.addon_id,
    action: row.action,
    resource: row.resource,
    phase: row.phase,
    detail: row.detail ?? {},
  };
}
