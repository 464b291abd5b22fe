/**
 * Where each linked account's change events arrive (`event_sources`, issue 17): per account and
 * region, the SQS queue EventBridge fills with CloudTrail's record of calls on this instance's
 * buckets and users, and the rules that fill it. Written by `events setup`, read by the poller.
 */
import type { Db } from './types.js';

export interface EventSource {
  accountId: string;
  region: string;
  queueUrl: string;
  queueArn: string;
  ruleArns: string[];
  createdAt: Date;
  updatedAt: Date;
}

interface EventSourceRow {
  account_id: string;
  region: string;
  queue_url: string;
  queue_arn: string;
  rule_arns: string[];
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'account_id, region, queue_url, queue_arn, rule_arns, created_at, updated_at';

export class EventSourceStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async list(): Promise<EventSource[]> {
    const rows = await this.#db.query<EventSourceRow>(`SELECT ${COLUMNS} FROM event_sources ORDER BY account_id, region`);
    return rows.map(toSource);
  }

  async forAccount(accountId: string): Promise<EventSource[]> {
    const rows = await this.#db.query<EventSourceRow>(`SELECT ${COLUMNS} FROM event_sources WHERE account_id = $1 ORDER BY region`, [accountId]);
    return rows.map(toSource);
  }

  /** Records (or updates) the queue and rules of one account's region. */
  async put(source: Pick<EventSource, 'accountId' | 'region' | 'queueUrl' | 'queueArn' | 'ruleArns'>): Promise<EventSource> {
    const rows = await this.#db.query<EventSourceRow>(
      `INSERT INTO event_sources (account_id, region, queue_url, queue_arn, rule_arns) VALUES ($1, $2, $3, $4, $5::text[])
       ON CONFLICT (account_id, region) DO UPDATE SET queue_url = EXCLUDED.queue_url, queue_arn = EXCLUDED.queue_arn,
         rule_arns = EXCLUDED.rule_arns, updated_at = now()
       RETURNING ${COLUMNS}`,
      [source.accountId, source.region, source.queueUrl, source.queueArn, source.ruleArns],
    );
    return toSource(rows[0]!);
  }

  /** Forgets one region of an account, or all of them; true when something was removed. */
  async remove(accountId: string, region?: string): Promise<boolean> {
    const rows = await this.#db.query(
      `DELETE FROM event_sources WHERE account_id = $1 AND ($2::text IS NULL OR region = $2) RETURNING account_id`,
      [accountId, region ?? null],
    );
    return rows.length > 0;
  }
}

function toSource(row: EventSourceRow): EventSource {
  return {
    accountId: row.account_id,
    region: row.region,
    queueUrl: row.queue_url,
    queueArn: row.queue_arn,
    ruleArns: row.rule_arns,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
