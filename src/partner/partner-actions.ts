/**
 * What the reconcile side tells Heroku about a partner add-on, with that add-on's partner token:
 *
 * - {@link PartnerActions.markReady}: the bucket, user and key are ready → `POST
 *   /addons/{id}/actions/provision` (Heroku then shows the add-on as provisioned);
 * - {@link PartnerActions.markFailed}: provisioning failed for good → `POST
 *   /addons/{id}/actions/deprovision`;
 * - {@link PartnerActions.deliverAddonConfig}: the `addon-config` credential delivery mode →
 *   `PATCH /addons/{id}/config`, and Heroku sets the vars on every app the add-on is attached to.
 *
 * Each action is sent once: success is recorded, and a repeated call answers `already-sent`
 * without calling Heroku. A crash between Heroku's answer and the record means one repeat at most,
 * which Heroku treats as the same state change. A 401 (token revoked or expired early) refreshes
 * the token once and retries.
 */
import type { PartnerAddonStore } from '../store/partner-addon-store.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { PartnerTokens } from './partner-tokens.js';
import { PartnerPlatformError, type AddonConfigVar, type PartnerPlatformClient } from './platform-client.js';
import { PartnerEvent } from '../reasons.js';

/**
 * - `sent`: Heroku accepted it just now;
 * - `already-sent`: it was accepted before, nothing was sent;
 * - `not-partner`: no provisioning request with this id was received (an add-on of another provider);
 * - `not-provisioning`: the add-on is no longer waiting (deprovisioned, or the other outcome was sent).
 */
export type PartnerActionResult = 'sent' | 'already-sent' | 'not-partner' | 'not-provisioning';

export interface PartnerActionsOptions {
  store: PartnerAddonStore;
  tokens: PartnerTokens;
  platform: PartnerPlatformClient;
  now?: () => Date;
  logger?: Logger;
}

export class PartnerActions {
  readonly #store: PartnerAddonStore;
  readonly #tokens: PartnerTokens;
  readonly #platform: PartnerPlatformClient;
  readonly #now: () => Date;
  readonly #log: Logger | undefined;
  readonly #inflight = new Map<string, Promise<PartnerActionResult>>();

  constructor(options: PartnerActionsOptions) {
    this.#store = options.store;
    this.#tokens = options.tokens;
    this.#platform = options.platform;
    this.#now = options.now ?? (() => new Date());
    this.#log = options.logger;
  }

  /** The add-on's resources are ready: tells Heroku once. Throws on a failed call (retry later). */
  markReady(addonId: string): Promise<PartnerActionResult> {
    return this.#once(`ready:${addonId}`, async () => {
      const addon = await this.#store.get(addonId);
      if (!addon) return 'not-partner';
      if (addon.provisionedSentAt) return 'already-sent';
      if (addon.state !== 'provisioning' && addon.state !== 'provisioned') return 'not-provisioning';
      await this.#withToken(addonId, (token) => this.#platform.action(token, addonId, 'provision'));
      await this.#store.markProvisionedSent(addonId, this.#now());
      this.#log?.info({ reason: PartnerEvent.MarkedProvisioned, addonId }, `partner add-on ${addonId}: Heroku told it is provisioned`);
      return 'sent';
    });
  }

  /**
   * Provisioning failed for good (`reason` is a plain sentence, kept in the store; never a secret):
   * tells Heroku once, while the add-on is still provisioning.
   */
  markFailed(addonId: string, reason: string): Promise<PartnerActionResult> {
    return this.#once(`failed:${addonId}`, async () => {
      const addon = await this.#store.get(addonId);
      if (!addon) return 'not-partner';
      if (addon.failedSentAt) return 'already-sent';
      if (addon.state !== 'provisioning') return 'not-provisioning';
      await this.#withToken(addonId, (token) => this.#platform.action(token, addonId, 'deprovision'));
      await this.#store.markFailedSent(addonId, reason, this.#now());
      this.#log?.warn({ reason: PartnerEvent.MarkedFailed, addonId, failure: reason }, `partner add-on ${addonId}: Heroku told provisioning failed: ${reason}`);
      return 'sent';
    });
  }

  /**
   * Credential delivery in the `addon-config` mode: `PATCH /addons/{id}/config`. `vars` are named
   * as the add-on manifest's config vars (prefix included, e.g. `S3_BUCKET_BUCKET_NAME`): Heroku
   * renames the prefix to each attachment's name on the apps. `null` removes a var. Idempotent.
   */
  async deliverAddonConfig(addonId: string, vars: Readonly<Record<string, string | null>>): Promise<void> {
    const config: AddonConfigVar[] = Object.entries(vars).map(([name, value]) => ({ name, value }));
    if (config.length === 0) return;
    await this.#withToken(addonId, (token) => this.#platform.patchConfig(token, addonId, config));
    this.#log?.info(
      { reason: PartnerEvent.ConfigDelivered, addonId, names: config.map((c) => c.name) },
      `partner add-on ${addonId}: config vars set through the add-on config`,
    );
  }

  async #withToken<T>(addonId: string, call: (token: string) => Promise<T>): Promise<T> {
    const token = await this.#tokens.accessToken(addonId);
    try {
      return await call(token);
    } catch (err) {
      if (!(err instanceof PartnerPlatformError) || err.statusCode !== 401) throw err;
      this.#log?.warn({ reason: PartnerEvent.TokenRefused, addonId, error: errorMessage(err) }, `partner add-on ${addonId}: token refused, refreshing once`);
      return call(await this.#tokens.accessToken(addonId, { forceRefresh: true }));
    }
  }

  #once(key: string, work: () => Promise<PartnerActionResult>): Promise<PartnerActionResult> {
    const running = this.#inflight.get(key);
    if (running) return running;
    const promise = work().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }
}
