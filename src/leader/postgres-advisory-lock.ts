/**
 * Leader election for runs outside Kubernetes: a PostgreSQL session-level advisory lock,
 * `pg_try_advisory_lock(key)`, held on a dedicated connection (not a pooled one) for as long as
 * this process leads. The server releases the lock when that session ends, so:
 *
 * - a leader whose connection drops is no longer the leader AT ONCE (the client's `error`/`end`
 *   events), and may not count on the lock, since another process can take it right after;
 * - the lock is re-checked every retry period with a bounded query, and isLeader() turns false by
 *   itself when no check has succeeded within the renew deadline (a connection that hangs);
 * - stop() unlocks and closes the connection, so another process takes over within a retry period.
 *
 * Advisory locks are per database, so processes sharing one DATABASE_URL contend for one lock.
 * For the embedded PGlite database use {@link SoleLeader}: one process holds it anyway.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { ElectorLoop } from './elector-loop.js';
import { DEFAULT_LEADER_TIMINGS, validateLeaderTimings, type Clock, type LeaderTimings, type Sleep } from './leader-election.js';
import { LeaderEvent } from '../reasons.js';

export interface PostgresAdvisoryLockOptions extends Partial<Omit<LeaderTimings, 'leaseDurationMs'>> {
  databaseUrl: string;
  /** Names the lock; processes with the same name on one database contend. */
  lockName: string;
  identity: string;
  logger?: Logger;
  clock?: Clock;
  sleep?: Sleep;
  random?: () => number;
}

/**
 * The 64-bit advisory-lock key for a name (first 8 bytes of its SHA-256, signed), as the decimal
 * text PostgreSQL casts to bigint.
 */
export function advisoryLockKey(lockName: string): string {
  return createHash('sha256').update(`heroku-s3-controller:${lockName}`).digest().readBigInt64BE(0).toString();
}

/** application_name of the lock's connection: shows who leads in pg_stat_activity. */
export function advisoryLockApplicationName(identity: string): string {
  // PostgreSQL truncates application_name to 63 bytes.
  return `hsc-leader:${identity}`.slice(0, 63);
}

export class PostgresAdvisoryLockElector extends ElectorLoop {
  readonly lockKey: string;
  private readonly timings: Omit<LeaderTimings, 'leaseDurationMs'>;
  private readonly databaseUrl: string;
  private readonly lockName: string;

  private client: pg.Client | null = null;

  constructor(options: PostgresAdvisoryLockOptions) {
    const retryPeriodMs = options.retryPeriodMs ?? DEFAULT_LEADER_TIMINGS.retryPeriodMs;
    const renewDeadlineMs = options.renewDeadlineMs ?? DEFAULT_LEADER_TIMINGS.renewDeadlineMs;
    // No lease duration here (the server holds the lock until the session ends); the rule between
    // renew deadline and retry period still applies.
    validateLeaderTimings({ renewDeadlineMs, retryPeriodMs });
    super({
      ...options,
      timings: { renewDeadlineMs, retryPeriodMs },
      subject: { fields: { lock: options.lockName }, text: `advisory lock "${options.lockName}"` },
    });
    this.timings = { renewDeadlineMs, retryPeriodMs };
    this.databaseUrl = options.databaseUrl;
    this.lockName = options.lockName;
    this.lockKey = advisoryLockKey(options.lockName);
  }

  override isLeader(): boolean {
    return this.client !== null && super.isLeader();
  }

  /**
   * Ends the session, which releases the lock. `release: false` only skips the explicit unlock:
   * the session (a socket that would keep the process alive) ends either way, as it would when
   * the process exits; another process gets the lock at its next retry.
   */
  protected async release(release: boolean): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    if (release) {
      try {
        // Ending the session releases the lock too; unlocking first says so explicitly.
        await client.query('SELECT pg_advisory_unlock($1::bigint)', [this.lockKey]);
      } catch {
        /* the session's end releases it anyway */
      }
    }
    await client.end().catch(() => undefined);
  }

  protected async attempt(): Promise<void> {
    const sentAtMs = this.clock();
    try {
      const client = this.client ?? (await this.connect());
      if (this.stopController.signal.aborted) return;
      if (this.leading) {
        // A round trip on our session that also confirms the lock is still granted to it.
        const rows = await client.query<{ held: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
             AND ((classid::bigint << 32) | objid::bigint) = $1::bigint AND objsubid = 1) AS held`,
          [this.lockKey],
        );
        if (client !== this.client) return; // dropped meanwhile
        if (rows.rows[0]?.held) {
          this.renewed(sentAtMs);
        } else {
          this.setLeading(false, 'lock-gone');
        }
      } else {
        const rows = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [this.lockKey]);
        // Stopped meanwhile: shutdown ends this session, which releases the lock just taken.
        if (client !== this.client || this.stopController.signal.aborted) return;
        if (rows.rows[0]?.locked) {
          this.renewed(sentAtMs);
          this.setLeading(true, 'acquired');
        }
      }
    } catch (err) {
      if (this.stopController.signal.aborted) return;
      this.logger?.warn({ reason: LeaderEvent.LockFailed }, `leader election: advisory lock "${this.lockName}": ${errorMessage(err)}`);
      this.drop('check-failed');
    }
    if (this.leading && this.renewDeadlinePassed()) {
      this.drop('renew-deadline-passed');
    }
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: advisoryLockApplicationName(this.identity),
      connectionTimeoutMillis: this.timings.renewDeadlineMs,
      // Bounded checks: a hanging connection fails the check instead of blocking the loop.
      query_timeout: this.timings.renewDeadlineMs,
      keepAlive: true,
    });
    // Connection loss: not the leader any more, at once.
    const lost = (why: string) => {
      if (this.client === client) this.drop(why);
    };
    client.on('error', (err) => {
      if (!this.stopController.signal.aborted) {
        this.logger?.warn({ reason: LeaderEvent.ConnectionLost }, `leader election: the advisory lock's connection failed: ${errorMessage(err)}`);
      }
      lost('connection-error');
    });
    client.on('end', () => lost('connection-ended'));
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new Error(`cannot connect to the database for the advisory lock: ${errorMessage(err)}`);
    }
    this.client = client;
    return client;
  }

  /** Forgets the connection (its lock is gone or cannot be trusted) and stops leading. */
  private drop(why: string): void {
    const client = this.client;
    this.client = null;
    this.setLeading(false, why);
    if (client) void client.end().catch(() => undefined);
  }
}
