/**
 * The state store: one object bundling the database, the secret box and the repositories.
 *
 *   const store = await Store.open({ databaseUrl, dataDir, fernetKeys });
 *   await store.links.list();
 *   await store.transaction(async (tx) => { await tx.resources.upsert(r); await tx.journal.append(e); });
 *   await store.close();
 */
import { SecretBox } from '../crypto/secret-box.js';
import { ApiTokenStore } from './api-token-store.js';
import { DeliveryStore } from './delivery-store.js';
import { EventSourceStore } from './event-source-store.js';
import { GcBreakerStore } from './gc-breaker-store.js';
import { openDb, type OpenDbOptions } from './db.js';
import { Journal } from './journal.js';
import { LinkStore } from './link-store.js';
import { migrate } from './migrate.js';
import { PartnerAddonStore } from './partner-addon-store.js';
import { ResourceStore } from './resource-store.js';
import { RotationStore } from './rotation-store.js';
import { SessionStore } from './session-store.js';
import { SettingsStore } from './settings-store.js';
import type { Db } from './types.js';

export interface StoreOpenOptions extends Omit<OpenDbOptions, 'databaseUrl'> {
  databaseUrl?: string | undefined;
  /** FERNET_KEYS: a list, or the comma-separated variable itself. First encrypts, all decrypt. */
  fernetKeys: readonly string[] | string;
  /** Apply pending migrations while opening (default true). */
  migrate?: boolean;
}

/** The repositories over one {@link Db} (the store itself, or one transaction). */
export class StoreRepositories {
  readonly db: Db;
  readonly links: LinkStore;
  readonly resources: ResourceStore;
  readonly deliveries: DeliveryStore;
  readonly journal: Journal;
  readonly gcBreakers: GcBreakerStore;
  readonly partnerAddons: PartnerAddonStore;
  readonly settings: SettingsStore;
  readonly apiTokens: ApiTokenStore;
  readonly sessions: SessionStore;
  readonly rotations: RotationStore;
  readonly eventSources: EventSourceStore;

  constructor(db: Db, box: SecretBox) {
    this.db = db;
    this.links = new LinkStore(db, box);
    this.resources = new ResourceStore(db, box);
    this.deliveries = new DeliveryStore(db);
    this.journal = new Journal(db);
    this.gcBreakers = new GcBreakerStore(db);
    this.partnerAddons = new PartnerAddonStore(db, box);
    this.settings = new SettingsStore(db);
    this.apiTokens = new ApiTokenStore(db);
    this.sessions = new SessionStore(db, box);
    this.rotations = new RotationStore(db);
    this.eventSources = new EventSourceStore(db);
  }
}

export class Store extends StoreRepositories {
  readonly box: SecretBox;
  /** Migrations applied while opening (`NNNN_name`); empty when the schema was up to date. */
  readonly migrationsApplied: readonly string[];

  constructor(db: Db, box: SecretBox, migrationsApplied: readonly string[] = []) {
    super(db, box);
    this.box = box;
    this.migrationsApplied = migrationsApplied;
  }

  /**
   * Checks FERNET_KEYS, opens the database (PostgreSQL with `databaseUrl`, else PGlite in
   * `dataDir`) and applies pending migrations. Throws one plain sentence on bad keys, a bad URL or
   * an unreachable database; the database is closed again if a later step fails.
   */
  static async open(opts: StoreOpenOptions): Promise<Store> {
    const box =
      typeof opts.fernetKeys === 'string'
        ? SecretBox.fromKeyList(opts.fernetKeys)
        : SecretBox.fromKeys(opts.fernetKeys);
    const { fernetKeys: _keys, migrate: runMigrations = true, ...dbOptions } = opts;
    const db = await openDb(dbOptions);
    try {
      const applied = runMigrations ? (await migrate(db)).applied : [];
      return new Store(db, box, applied);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Runs `fn` with repositories bound to one transaction: all of it commits, or none. Inside `fn`
   * use only `tx`: on PGlite the outer store waits for the transaction to end (so calling it from
   * `fn` never returns), and on PostgreSQL it would not see the transaction's writes.
   */
  transaction<T>(fn: (tx: StoreRepositories) => Promise<T>): Promise<T> {
    return this.db.transaction((txDb) => fn(new StoreRepositories(txDb, this.box)));
  }

  /**
   * Key rotation: re-encrypts every stored secret not encrypted with the first key, so the other
   * keys can then be removed from FERNET_KEYS. Returns how many values were rewritten.
   */
  async reencryptSecrets(): Promise<{ links: number; resources: number; partnerAddons: number }> {
    return {
      links: await this.links.reencryptAll(),
      resources: await this.resources.reencryptAll(),
      partnerAddons: await this.partnerAddons.reencryptAll(),
    };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
