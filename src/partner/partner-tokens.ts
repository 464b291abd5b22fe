/**
 * The partner OAuth tokens of each add-on: the grant is exchanged once (right after the
 * provisioning request is answered, retried on transient failures), and the access token is
 * refreshed before use whenever it has expired or is about to. Tokens live Fernet-encrypted in
 * `partner_addons`; one exchange or refresh per add-on is in flight at a time in this process, and
 * compare-and-set writes keep two replicas from overwriting each other with older tokens.
 */
import type { PartnerAddonStore, PartnerTokenSet } from '../store/partner-addon-store.js';
import { TerminalError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { OAuthRefusedError } from './oauth-client.js';
import { PartnerEvent } from '../reasons.js';

/** The two calls of {@link HerokuOAuthClient} this needs (a stand-in in unit tests). */
export interface OAuthTokenSource {
  exchangeGrant(code: string): Promise<PartnerTokenSet>;
  refresh(refreshToken: string): Promise<PartnerTokenSet>;
}

export interface PartnerTokensOptions {
  store: PartnerAddonStore;
  oauth: OAuthTokenSource;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** A token expiring within this long is refreshed before use. Default 60 s. */
  refreshSkewMs?: number;
  /** Waits between background exchange attempts; its length + 1 is the number of attempts. Default 1 s, 5 s, 30 s. */
  exchangeRetryDelaysMs?: readonly number[];
  logger?: Logger;
}

export class PartnerTokens {
  readonly #store: PartnerAddonStore;
  readonly #oauth: OAuthTokenSource;
  readonly #now: () => Date;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #skewMs: number;
  readonly #retryDelays: readonly number[];
  readonly #log: Logger | undefined;
  readonly #inflight = new Map<string, Promise<PartnerTokenSet>>();

  constructor(options: PartnerTokensOptions) {
    this.#store = options.store;
    this.#oauth = options.oauth;
    this.#now = options.now ?? (() => new Date());
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#skewMs = options.refreshSkewMs ?? 60_000;
    this.#retryDelays = options.exchangeRetryDelaysMs ?? [1_000, 5_000, 30_000];
    this.#log = options.logger;
  }

  /**
   * A valid access token for the add-on: exchanges the grant if that has not happened yet, and
   * refreshes an expired (or nearly expired) token first. `forceRefresh` renews even a token that
   * looks valid (Heroku refused it). Throws {@link TerminalError} when there is neither a token nor
   * a grant, or Heroku refused the grant or refresh token.
   */
  async accessToken(uuid: string, options: { forceRefresh?: boolean } = {}): Promise<string> {
    const tokens = await this.#single(uuid, () => this.#current(uuid, options.forceRefresh ?? false));
    return tokens.accessToken;
  }

  /** Exchanges the grant now unless tokens are already stored. Idempotent. */
  async exchange(uuid: string): Promise<void> {
    await this.#single(uuid, async () => {
      const addon = await this.#store.get(uuid);
      if (!addon) throw new TerminalError(`partner add-on ${uuid} is not known`, 'partner-addon-unknown');
      return addon.tokens ?? (await this.#exchange(uuid));
    });
  }

  /**
   * {@link exchange} with retries on transient failures, for after the 202 answer. Never throws:
   * a failure is logged and stored (`token_error`), and the next {@link accessToken} tries again
   * while the grant is still valid. Resolves true when tokens are stored.
   */
  async exchangeWithRetry(uuid: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.exchange(uuid);
        return true;
      } catch (err) {
        const terminal = err instanceof TerminalError;
        const last = terminal || attempt >= this.#retryDelays.length;
        this.#log?.[last ? 'error' : 'warn'](
          { reason: PartnerEvent.TokenExchangeFailed, addonId: uuid, attempt: attempt + 1, error: errorMessage(err), willRetry: !last },
          last ? `partner add-on ${uuid}: the OAuth grant could not be exchanged: ${errorMessage(err)}` : `partner add-on ${uuid}: OAuth grant exchange failed, retrying`,
        );
        if (last) return false;
        await this.#sleep(this.#retryDelays[attempt]!);
      }
    }
  }

  async #current(uuid: string, forceRefresh: boolean): Promise<PartnerTokenSet> {
    const addon = await this.#store.get(uuid);
    if (!addon) throw new TerminalError(`partner add-on ${uuid} is not known`, 'partner-addon-unknown');
    if (!addon.tokens) return this.#exchange(uuid);
    const fresh = addon.tokens.accessTokenExpiresAt.getTime() - this.#skewMs > this.#now().getTime();
    if (fresh && !forceRefresh) return addon.tokens;
    return this.#refresh(uuid, addon.tokens);
  }

  async #exchange(uuid: string): Promise<PartnerTokenSet> {
    const grant = await this.#store.grantCode(uuid);
    if (!grant) {
      // Another replica may have exchanged it meanwhile.
      const again = await this.#store.get(uuid);
      if (again?.tokens) return again.tokens;
      throw new TerminalError(`partner add-on ${uuid} has no OAuth grant to exchange and no token: Heroku must send the provisioning request again`, 'partner-no-grant');
    }
    let tokens: PartnerTokenSet;
    try {
      tokens = await this.#oauth.exchangeGrant(grant.code);
    } catch (err) {
      await this.#store.recordTokenFailure(uuid, errorMessage(err));
      throw err;
    }
    if (!(await this.#store.saveExchangedTokens(uuid, tokens, this.#now()))) {
      const stored = await this.#store.get(uuid);
      if (stored?.tokens) return stored.tokens;
    }
    this.#log?.info({ reason: PartnerEvent.TokenExchanged, addonId: uuid }, `partner add-on ${uuid}: OAuth grant exchanged`);
    return tokens;
  }

  async #refresh(uuid: string, current: PartnerTokenSet): Promise<PartnerTokenSet> {
    let tokens: PartnerTokenSet;
    try {
      tokens = await this.#oauth.refresh(current.refreshToken);
    } catch (err) {
      await this.#store.recordTokenFailure(uuid, errorMessage(err));
      if (err instanceof OAuthRefusedError) {
        // Perhaps another replica refreshed first and the old refresh token is gone: use its tokens.
        const stored = await this.#store.get(uuid);
        if (stored?.tokens && stored.tokens.accessTokenExpiresAt.getTime() !== current.accessTokenExpiresAt.getTime()) return stored.tokens;
      }
      throw err;
    }
    if (!(await this.#store.saveRefreshedTokens(uuid, tokens, current.accessTokenExpiresAt))) {
      const stored = await this.#store.get(uuid);
      if (stored?.tokens) return stored.tokens;
    }
    this.#log?.debug({ reason: PartnerEvent.TokenRefreshed, addonId: uuid }, `partner add-on ${uuid}: access token refreshed`);
    return tokens;
  }

  #single(uuid: string, work: () => Promise<PartnerTokenSet>): Promise<PartnerTokenSet> {
    const running = this.#inflight.get(uuid);
    if (running) return running;
    const promise = work().finally(() => this.#inflight.delete(uuid));
    this.#inflight.set(uuid, promise);
    return promise;
  }
}
