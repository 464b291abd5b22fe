/** Settings a deployment keeps for its whole life, whatever its configuration says (`controller_settings`). */
import type { Db } from './types.js';

export class SettingsStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async get(key: string): Promise<string | null> {
    const rows = await this.#db.query<{ value: string }>('SELECT value FROM controller_settings WHERE key = $1', [key]);
    return rows[0]?.value ?? null;
  }

  /**
   * Sets `key` to `value` unless it is set already, and returns the value that holds: `value`, or
   * the one set before (by this process or another racing it).
   */
  async claim(key: string, value: string): Promise<string> {
    const rows = await this.#db.query<{ value: string }>(
      `INSERT INTO controller_settings (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
       RETURNING value`,
      [key, value],
    );
    return rows[0]!.value;
  }
}
