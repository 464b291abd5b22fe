/** The mass-deletion breakers (`gc_breakers`): tripped by a pass, approved by an operator. */
import type { Db, GcBreaker } from './types.js';

interface BreakerRow {
  account_id: string;
  tripped_at: Date;
  planned: string[];
  approved_at: Date | null;
}

export class GcBreakerStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async list(): Promise<GcBreaker[]> {
    const rows = await this.#db.query<BreakerRow>('SELECT account_id, tripped_at, planned, approved_at FROM gc_breakers ORDER BY account_id');
    return rows.map(toBreaker);
  }

  async get(accountId: string): Promise<GcBreaker | null> {
    const rows = await this.#db.query<BreakerRow>(
      'SELECT account_id, tripped_at, planned, approved_at FROM gc_breakers WHERE account_id = $1',
      [accountId],
    );
    return rows[0] ? toBreaker(rows[0]) : null;
  }

  /** Trips (or re-trips, with a new plan and no approval) the breaker of an account. */
  async trip(accountId: string, planned: readonly string[], at: Date): Promise<void> {
    await this.#db.query(
      `INSERT INTO gc_breakers (account_id, tripped_at, planned, approved_at) VALUES ($1, $2::timestamptz, $3::text[], NULL)
       ON CONFLICT (account_id) DO UPDATE SET tripped_at = EXCLUDED.tripped_at, planned = EXCLUDED.planned, approved_at = NULL`,
      [accountId, at, [...planned].sort()],
    );
  }

  /**
   * Approves the planned deletions of a tripped breaker; null when none is tripped, or when
   * `planned` is given and the breaker holds anything else (checked in the same statement, so a
   * pass re-tripping it meanwhile is never approved unseen).
   */
  async approve(accountId: string, at: Date, planned?: readonly string[]): Promise<GcBreaker | null> {
    const rows = await this.#db.query<BreakerRow>(
      `UPDATE gc_breakers SET approved_at = $2::timestamptz
       WHERE account_id = $1 AND ($3::text[] IS NULL OR planned = $3::text[])
       RETURNING account_id, tripped_at, planned, approved_at`,
      [accountId, at, planned === undefined ? null : [...planned].sort()],
    );
    return rows[0] ? toBreaker(rows[0]) : null;
  }

  /** Resets the breaker of an account (its approved deletions are done, or nothing trips it). */
  async reset(accountId: string): Promise<void> {
    await this.#db.query('DELETE FROM gc_breakers WHERE account_id = $1', [accountId]);
  }
}

function toBreaker(row: BreakerRow): GcBreaker {
  return { accountId: row.account_id, trippedAt: row.tripped_at, planned: row.planned, approvedAt: row.approved_at };
}
