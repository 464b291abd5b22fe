/**
 * A Heroku Platform API fake over node:http, for tests. Every JSON answer is validated against the
 * official schema; failures are collected in `schemaViolations` (the server keeps answering).
 *
 * Behaviour copied from Heroku: `Range: id ..; max=N` pagination sorted by id (default 200, at most
 * 1000) with `206 Partial Content` + `Next-Range` while more remain; `RateLimit-Remaining` on every
 * answer, one token per request (`GET /account/rate-limits` is free), `429 rate_limit` when empty,
 * optionally refilled over time like Heroku's bucket (`emulateRateLimit`, off by default);
 * error bodies `{"id","message"}`. It never answers 304 (heroku-client would hang).
 *
 * Add-on config vars (REFERENCE.md, "Add-on config vars through the Partner API"): the provider
 * sets them with the manifest's `config_vars_prefix` (`setManifestPrefix`; default the normalized
 * service slug), each attached app gets them with the prefix replaced by its attachment's name,
 * the add-on's `config_vars` lists only those (as the owning app sees them), and an app's own
 * `PATCH /apps/{app}/config-vars` is refused (422) for them. Seed them with
 * `addAddon({ providerConfig })` or `setProviderConfig`, the same path as the partner's PATCH.
 *
 * Writes served besides config vars and webhooks: `PATCH /teams/apps/{app}` with `{owner}` (Transfer
 * to Team) and `PATCH /apps/{app}/addons/{addon}` with `{plan, name?}` (add-on Update); test code
 * reaches the same through `moveApp`, `changePlan`, `renameAttachment`, `attach`, `detach`, ….
 *
 * Users and their tokens (`accounts.ts`, `identity.ts`): tests add users (`addUser`) with roles in
 * teams (`setTeamRole`); a user signs in through the OAuth web flow (`registerOAuthClient`,
 * `signInAs` or the authorize form) or gets a token from `issueUserToken`. With a user's token the
 * API answers as that user: `GET /account` is the user, `GET /teams` lists only the teams they are
 * a member of with their `role`, `GET /teams/{team}/members` lists a team's members, and a team,
 * app, add-on or attachment of a team they are not in answers `403 forbidden` (an unknown one still
 * 404 first). Global listings (`/apps`, `/addons`, `/addon-attachments`) hold only their teams'.
 * Chosen here, unconfirmed: every role may read its team; writes need the `admin` role. Scopes are
 * enforced: `identity` reaches `GET /account` only; `read` reads all but config vars
 * (`read-protected`); `write` writes all but config vars (`write-protected`); `global` all. Each
 * user has a rate-limit bucket of their own (4,500, counted down), as Heroku's is per account.
 * The controller's token (`fake.token`) sees every team as `admin`, as before, and `GET /account`
 * answers it with an account that is a member of no team.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { validate, validateList } from './schema.js';
import type { DefinitionName } from './schema.js';
import { FakeState, InvalidParams, NotFound } from './state.js';
import type { AddAddonOptions, AddOn, AddOnAttachment, AddOnState, App, Region, Team, TeamRole } from './state.js';
import { FakeAccounts } from './accounts.js';
import type { Account, TeamMember } from './accounts.js';
import { FakeIdentity } from './identity.js';
import type { OAuthClient, OAuthScope, Principal, TokenExchangeAnswer } from './identity.js';
import { FakeWebhooks } from './webhooks.js';
import { FakePartner } from './partner.js';
import type { AppWebhook } from './webhooks.js';

export interface RecordedRequest {
  method: string;
  /** Path without query string, as sent (not decoded). */
  path: string;
  status: number;
  /** The `Range` header sent, if any. */
  range?: string;
  requestId: string;
}

export interface FailNextOptions {
  /** Any method when left out. */
  method?: string;
  /** Exact path (query string ignored), or a RegExp tested against it. */
  path: string | RegExp;
  status: number;
  /** How many matching requests fail (default 1). */
  times?: number;
  /** Error id of the body; default by status (429 `rate_limit`, 500 `internal_server_error`, …). */
  id?: string;
  message?: string;
  /** Only fail when serving this (1-based) page of a paginated list. */
  onPage?: number;
}

interface Fault extends Required<Pick<FailNextOptions, 'status' | 'times'>> {
  method: string | undefined;
  path: string | RegExp;
  id: string;
  message: string;
  onPage: number | undefined;
}

export interface ResponseContext {
  method: string;
  path: string;
  definition: DefinitionName;
  list: boolean;
}

/** Test hook: rewrites an answer's body before validation (to prove the validator catches bad shapes). */
export type ResponseTamper = (body: unknown, ctx: ResponseContext) => unknown;

const DEFAULT_PAGE = 200;
const MAX_PAGE = 1000;
const DEFAULT_RATE_LIMIT = 4500;

const ERROR_IDS: Record<number, [string, string]> = {
  400: ['bad_request', 'Bad request.'],
  401: ['unauthorized', 'Invalid credentials provided.'],
  403: ['forbidden', 'You do not have access to this resource.'],
  404: ['not_found', 'Not found.'],
  409: ['conflict', 'Conflict.'],
  422: ['invalid_params', 'Invalid params.'],
  429: ['rate_limit', 'Your account reached the API rate limit\nPlease wait a few minutes before making new requests'],
  500: ['internal_server_error', 'Internal server error.'],
  502: ['bad_gateway', 'Bad gateway.'],
  503: ['service_unavailable', 'The service is temporarily unavailable.'],
  504: ['gateway_timeout', 'Gateway timeout.'],
};

const UNKNOWN_ROUTE =
  'The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your intended version with the `Accept` header?';

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Heroku's account rate limit as a token bucket: `capacity` tokens (Heroku: 4,500), refilled
 * continuously at `refillPerMinute` (Heroku: about 75). Off by default: the fake then only counts
 * down from 4,500 (or `setRateLimitRemaining`) without refilling.
 */
export interface RateLimitEmulation {
  capacity: number;
  refillPerMinute: number;
  /** Tokens at the start; default `capacity`. */
  initial?: number;
  /** Milliseconds; default `Date.now` (real time: pick a fast refill to keep tests short). */
  clock?: () => number;
}

interface Sortable {
  id: string;
}

/** What a route answers: one object, or a list to paginate. */
type Answer =
  | { kind: 'one'; definition: DefinitionName; body: unknown; status?: number }
  | { kind: 'list'; definition: DefinitionName; items: Sortable[]; render: (item: Sortable) => unknown };

interface Route {
  method: string;
  pattern: string[]; // segments; ':x' is a parameter
  list: boolean;
  free?: boolean;
  /** `who` is the operator (the controller's token) or a signed-in user. */
  handle: (params: string[], body: unknown, who: Principal) => Answer;
}

interface ParsedRange {
  after: string | undefined; // exclusive start
  from: string | undefined; // inclusive start
  to: string | undefined; // inclusive end
  max: number;
  desc: boolean;
}

export class HerokuFake {
  readonly url: string;
  readonly token: string;
  readonly requests: RecordedRequest[] = [];
  readonly schemaViolations: string[] = [];

  private readonly state = new FakeState();
  private readonly accounts = new FakeAccounts(this.state);
  private readonly hooks = new FakeWebhooks();
  /** Rate-limit tokens left per user account (the operator's are `rateLimit`). */
  private readonly userRateLimits = new Map<string, number>();
  /** Milliseconds; the OAuth codes' and user tokens' expiry reads it. */
  private clock: () => number = Date.now;
  private readonly faults: Fault[] = [];
  /** Tokens left; fractional while the emulation refills. */
  private rateLimit = DEFAULT_RATE_LIMIT;
  private bucket: (Required<Omit<RateLimitEmulation, 'initial'>> & { refilledAt: number }) | null = null;
  private tamper: ResponseTamper | undefined;
  private afterApply: ((method: string, path: string) => boolean) | undefined;
  private delayMs = 0;
  private gate: ((method: string, path: string, body: string) => Promise<void> | undefined) | undefined;
  /** Requests whose answer {@link delayResponses} is holding back right now. */
  heldRequests = 0;
  private readonly routes: Route[];
  /** Heroku's side of the Add-on Partner API: provisioning requests, OAuth tokens, add-on actions and config. */
  readonly partner: FakePartner;
  /** id.heroku.com's OAuth web flow: clients, the authorize page, user tokens (`identity.ts`). */
  readonly identity: FakeIdentity;

  private constructor(
    private readonly server: Server,
    url: string,
    token: string,
  ) {
    this.url = url;
    this.token = token;
    this.routes = this.buildRoutes();
    this.partner = new FakePartner(this.state, this.schemaViolations, this.requests);
    this.identity = new FakeIdentity(this.accounts, this.schemaViolations, this.requests, () => this.clock());
  }

  /**
   * `clock` (milliseconds, default `Date.now`) is what OAuth codes and user tokens expire by; other
   * timestamps of the fake keep real time.
   */
  static async start(
    opts: { token?: string; rateLimitRemaining?: number; rateLimit?: RateLimitEmulation; clock?: () => number } = {},
  ): Promise<HerokuFake> {
    const token = opts.token ?? `HRKU-fake-${randomUUID()}`;
    let fake: HerokuFake | undefined;
    const server = createServer((req, res) => {
      if (!fake) {
        res.statusCode = 503;
        res.end();
        return;
      }
      fake.onRequest(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    fake = new HerokuFake(server, `http://127.0.0.1:${port}`, token);
    if (opts.rateLimitRemaining !== undefined) fake.rateLimit = opts.rateLimitRemaining;
    if (opts.rateLimit) fake.emulateRateLimit(opts.rateLimit);
    if (opts.clock) fake.clock = opts.clock;
    return fake;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- seeding ---------------------------------------------------------------------------------

  addTeam(o: { name: string; id?: string }): Team {
    return this.state.addTeam(o);
  }

  addApp(o: { name: string; team: string; region?: Region; id?: string }): App {
    return this.state.addApp(o);
  }

  addAddon(o: AddAddonOptions): AddOn {
    return this.state.addAddon(o);
  }

  attach(o: { addon: string; app: string; name: string; namespace?: string | null }): AddOnAttachment {
    return this.state.attach(o);
  }

  detach(attachmentId: string): void {
    this.state.detach(attachmentId);
  }

  destroyAddon(addon: string): void {
    this.state.destroyAddon(addon);
  }

  destroyApp(app: string): void {
    this.state.destroyApp(app);
  }

  destroyTeam(team: string): void {
    const id = this.state.team(team).id;
    this.state.destroyTeam(team);
    this.accounts.forgetTeam(id);
  }

  // ---- users and OAuth -------------------------------------------------------------------------

  /** A Heroku user account (email unique, any case); `GET /account` answers it to its tokens. */
  addUser(o: { email: string; name?: string | null; id?: string }): Account {
    return this.accounts.accountJson(this.accounts.addUser(o));
  }

  /** A user's account (email or id) as `GET /account` answers it. */
  user(ref: string): Account {
    return this.accounts.accountJson(this.accounts.user(ref));
  }

  /**
   * Makes the user (email or id) a member of the team (name or id) with `role`, or changes their
   * role; `null` removes them from the team. Returns the membership as `GET /teams/{team}/members`
   * lists it, or null after a removal.
   */
  setTeamRole(team: string, user: string, role: TeamRole | null): TeamMember | null {
    const m = this.accounts.setTeamRole(team, user, role);
    return m === null ? null : this.accounts.memberJson(m);
  }

  /** A team's members as `GET /teams/{team}/members` lists them (unsorted). */
  teamMembers(team: string): TeamMember[] {
    return this.accounts.members(team).map((m) => this.accounts.memberJson(m));
  }

  /** Registers an OAuth client (id and secret generated unless given) whose redirect URI Heroku uses. */
  registerOAuthClient(o: { redirectUri: string; id?: string; secret?: string; name?: string }): OAuthClient {
    return this.identity.registerClient(o);
  }

  /**
   * The fake's browser session: with a user (email or id) signed in, `GET /oauth/authorize`
   * redirects straight back with a code for them (for tests without a browser); `null` signs out,
   * and the authorize page shows its sign-in form (for a browser test).
   */
  signInAs(user: string | null): void {
    this.identity.signInAs(user);
  }

  /**
   * A user token without the web flow, as `POST /oauth/token` answers it (scopes default to
   * `global`; the client to the first registered one).
   */
  issueUserToken(user: string, o: { scopes?: OAuthScope[]; client?: string } = {}): TokenExchangeAnswer {
    return this.identity.issueToken(user, o);
  }

  setAddonState(addon: string, state: AddOnState): AddOn {
    return this.state.setAddonState(addon, state);
  }

  /** Transfers an app to another team (Heroku's "Transfer to Team"); team listings follow. */
  moveApp(app: string, team: string): App {
    return this.state.moveApp(app, team);
  }

  /** Changes an add-on's plan (`service:plan`, or a bare plan name of its service); `updated_at` moves. */
  changePlan(addon: string, plan: string): AddOn {
    return this.state.changePlan(addon, plan);
  }

  /** `addons:attach --as NEW` then detach of the old one: returns the new attachment (new id). */
  renameAttachment(attachmentId: string, newName: string): AddOnAttachment {
    return this.state.renameAttachment(attachmentId, newName);
  }

  /** The manifest's `config_vars_prefix` of a service (default: `s3-bucket` → `S3_BUCKET`). */
  manifestPrefix(service: string): string {
    return this.state.manifestPrefix(service);
  }

  /** Sets a service's manifest `config_vars_prefix`; before any add-on of it has provider config. */
  setManifestPrefix(service: string, prefix: string): void {
    this.state.setManifestPrefix(service, prefix);
  }

  /**
   * What the provider's `PATCH /addons/{id}/config` does (names in the manifest's prefix form,
   * `null` removes one), without the Partner API's tokens: for seeding and tests.
   */
  setProviderConfig(addon: string, vars: Record<string, string | null>): AddOn {
    return this.state.setProviderConfig(addon, vars);
  }

  /** The add-on's config as its provider set it (manifest-prefix names). */
  providerConfig(addon: string): Record<string, string> {
    return this.state.providerConfig(addon);
  }

  configVars(app: string): Record<string, string> {
    return this.state.configVars(app);
  }

  setConfigVar(app: string, key: string, value: string | null): void {
    this.state.setConfigVar(app, key, value);
  }

  /** Current representations (as the API would answer them), for assertions. */
  team(ref: string): Team {
    return this.state.teamJson(this.state.team(ref));
  }

  app(ref: string): App {
    return this.state.appJson(this.state.app(ref));
  }

  addon(ref: string): AddOn {
    return this.state.addonJson(this.state.addon(ref));
  }

  /**
   * Attachments: all, or of one add-on (name or id). For compatibility with older callers a ref
   * that names no add-on but an app lists that app's attachments (prefer {@link appAttachments});
   * a ref naming both an add-on and an app is refused rather than guessed.
   */
  attachments(addon?: string): AddOnAttachment[] {
    if (addon === undefined) return this.state.allAttachments().map((r) => this.state.attachmentJson(r));
    const isAddon = this.state.has('add-on', addon);
    const isApp = this.state.has('app', addon);
    if (isAddon && isApp) throw new Error(`attachments(${addon}): both an add-on and an app are named so; use addonAttachments or appAttachments`);
    return isApp ? this.appAttachments(addon) : this.addonAttachments(addon);
  }

  /** An add-on's attachments (name or id), as `GET /addons/{addon}/addon-attachments` serves them. */
  addonAttachments(addon: string): AddOnAttachment[] {
    return this.state.addonAttachments(addon).map((r) => this.state.attachmentJson(r));
  }

  /** An app's attachments (name or id), as `GET /apps/{app}/addon-attachments` serves them. */
  appAttachments(app: string): AddOnAttachment[] {
    return this.state.appAttachments(app).map((r) => this.state.attachmentJson(r));
  }

  /** An app's webhook subscriptions as served, with the write-only fields the API never shows. */
  webhooks(app: string): Array<{ webhook: AppWebhook; secret: string | null; authorization: string | null }> {
    const a = this.state.app(app);
    return this.hooks.list(a.id).map((w) => ({ webhook: this.hooks.json(w, a), secret: w.secret, authorization: w.authorization }));
  }

  // ---- observation -----------------------------------------------------------------------------

  mutatingRequests(): number {
    return this.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD').length;
  }

  resetRequests(): void {
    this.requests.length = 0;
  }

  clearSchemaViolations(): void {
    this.schemaViolations.length = 0;
  }

  // ---- fault injection ---------------------------------------------------------------------------

  failNext(o: FailNextOptions): void {
    const [defId, defMessage] = ERROR_IDS[o.status] ?? ['error', `Error ${o.status}.`];
    this.faults.push({
      method: o.method?.toUpperCase(),
      path: o.path,
      status: o.status,
      times: o.times ?? 1,
      id: o.id ?? defId,
      message: o.message ?? defMessage,
      onPage: o.onPage,
    });
  }

  /** Drop every pending `failNext`. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  setRateLimitRemaining(n: number): void {
    this.rateLimit = Math.max(0, Math.floor(n));
    if (this.bucket) this.bucket.refilledAt = this.bucket.clock();
  }

  get rateLimitRemaining(): number {
    this.refill();
    return Math.floor(this.rateLimit);
  }

  /**
   * Switches the refilling token bucket on (`undefined`: off again, keeping the tokens left).
   * Every request but `GET /account/rate-limits` spends one token; empty → `429 rate_limit`.
   */
  emulateRateLimit(emulation: RateLimitEmulation | undefined): void {
    if (!emulation) {
      this.rateLimit = Math.floor(this.rateLimit);
      this.bucket = null;
      return;
    }
    if (!(emulation.capacity > 0) || !(emulation.refillPerMinute >= 0)) throw new Error('emulateRateLimit: capacity must be positive and refillPerMinute 0 or more');
    const clock = emulation.clock ?? Date.now;
    this.bucket = { capacity: emulation.capacity, refillPerMinute: emulation.refillPerMinute, clock, refilledAt: clock() };
    this.rateLimit = Math.min(emulation.capacity, emulation.initial ?? emulation.capacity);
  }

  /** Requests answered `429` because the bucket was empty (not by `failNext`). */
  get rateLimitedRequests(): number {
    return this.throttled;
  }

  private throttled = 0;

  private refill(): void {
    if (!this.bucket) return;
    const now = this.bucket.clock();
    const elapsed = Math.max(0, now - this.bucket.refilledAt);
    this.bucket.refilledAt = now;
    this.rateLimit = Math.min(this.bucket.capacity, this.rateLimit + (elapsed * this.bucket.refillPerMinute) / 60_000);
  }

  /** Rewrite answers before they are validated and sent; `undefined` removes the hook. */
  tamperResponses(fn: ResponseTamper | undefined): void {
    this.tamper = fn;
  }

  /**
   * Called after every change the Platform API applied (not GET); when it returns true, the
   * client gets `500` instead of the answer: the change happened, its answer was lost (a caller
   * that died right after the call). `undefined` ends it.
   */
  onMutationApplied(fn: ((method: string, path: string) => boolean) | undefined): void {
    this.afterApply = fn;
  }

  /**
   * Holds a request back until the promise `gate` returns for it settles (undefined: answered at
   * once): to make two clients' requests interleave in a chosen order.
   */
  gateRequests(gate: ((method: string, path: string, body: string) => Promise<void> | undefined) | undefined): void {
    this.gate = gate;
  }

  /** Hold every answer back this long (a slow or hung Heroku); 0 answers at once again. */
  delayResponses(ms: number): void {
    this.delayMs = Math.max(0, ms);
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const held = this.gate?.((req.method ?? 'GET').toUpperCase(), (req.url ?? '/').split('?')[0]!, Buffer.concat(chunks).toString('utf8'));
      if (held) {
        void held.then(() => {
          if (!res.destroyed) this.answer(req, res, chunks);
        });
        return;
      }
      if (this.delayMs > 0) {
        this.heldRequests += 1;
        setTimeout(() => {
          this.heldRequests -= 1;
          if (!res.destroyed) this.answer(req, res, chunks);
        }, this.delayMs).unref();
        return;
      }
      this.answer(req, res, chunks);
    });
  }

  private answer(req: IncomingMessage, res: ServerResponse, chunks: Buffer[]): void {
    try {
      this.dispatch(req, res, Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      this.schemaViolations.push(`internal error of the fake on ${req.method} ${req.url}: ${msg}`);
      if (!res.headersSent) this.send(req, res, randomUUID(), 500, { id: 'internal_server_error', message: 'Internal server error.' });
    }
  }

  private dispatch(req: IncomingMessage, res: ServerResponse, rawBody: string): void {
    const requestId = randomUUID();
    const method = (req.method ?? 'GET').toUpperCase();
    const path = (req.url ?? '/').split('?')[0]!;
    const range = header(req, 'range');
    let who: Principal | null = null;
    const fail = (status: number, id: string, message: string, headers: Record<string, string> = {}): void => {
      this.finish(req, res, { method, path, status, range, requestId, remaining: this.remainingFor(who) }, { id, message }, headers);
    };

    // id.heroku.com: `POST /oauth/token` is shared by the web flow and the add-on partner grant.
    if (method === 'POST' && path === '/oauth/token') {
      const params = FakeIdentity.tokenParams(req, rawBody);
      if (params && this.identity.ownsTokenRequest(params)) return this.identity.dispatch(req, res, method, path, rawBody);
      return this.partner.dispatch(req, res, method, path, rawBody);
    }
    if (this.identity.handles(method, path)) return this.identity.dispatch(req, res, method, path, rawBody);
    if (this.partner.handles(method, path)) return this.partner.dispatch(req, res, method, path, rawBody);

    who = this.principal(header(req, 'authorization'));
    if (!who) {
      fail(401, 'unauthorized', 'Invalid credentials provided.');
      return;
    }

    const match = this.match(method, path);
    if (!match?.route.free) {
      if (who.kind === 'operator') {
        this.refill();
        if (this.rateLimit < 1) {
          this.throttled += 1;
          fail(429, 'rate_limit', ERROR_IDS[429]![1]);
          return;
        }
        this.rateLimit -= 1;
      } else {
        const left = this.remainingFor(who);
        if (left < 1) {
          fail(429, 'rate_limit', ERROR_IDS[429]![1]);
          return;
        }
        this.userRateLimits.set(who.accountId, left - 1);
      }
    }

    if (who.kind === 'user' && match && !scopeAllows(who.scopes, method, match.route)) {
      fail(403, 'forbidden', `This OAuth token's scope (${[...who.scopes].join(', ')}) does not allow ${method} ${path}.`);
      return;
    }

    const fault = this.takeFault(method, path, undefined);
    if (fault) {
      fail(fault.status, fault.id, fault.message);
      return;
    }

    if (!match) {
      fail(404, 'not_found', UNKNOWN_ROUTE);
      return;
    }

    let body: unknown = undefined;
    if (rawBody.trim() !== '') {
      try {
        body = JSON.parse(rawBody);
      } catch {
        fail(400, 'bad_request', 'Request body is not valid JSON.');
        return;
      }
    }

    let answer: Answer;
    try {
      if (who.kind === 'user') this.guard(who, match, method);
      answer = match.route.handle(match.params, body, who);
    } catch (err) {
      if (err instanceof NotFound) return fail(404, 'not_found', err.message);
      if (err instanceof InvalidParams) return fail(422, 'invalid_params', err.message);
      if (err instanceof HttpError) return fail(err.status, err.id, err.message);
      throw err;
    }
    if (method !== 'GET' && this.afterApply?.(method, path)) return fail(500, 'internal_server_error', 'Internal server error.');

    if (answer.kind === 'one') {
      const out = this.tamper ? this.tamper(answer.body, { method, path, definition: answer.definition, list: false }) : answer.body;
      this.check(method, path, answer.definition, validate(answer.definition, out));
      this.finish(req, res, { method, path, status: answer.status ?? 200, range, requestId, remaining: this.remainingFor(who) }, out);
      return;
    }

    // Lists: paginate like Heroku.
    let parsed: ParsedRange;
    try {
      parsed = parseRange(range);
    } catch (err) {
      fail(416, 'requested_range_not_satisfiable', err instanceof Error ? err.message : String(err));
      return;
    }
    const sorted = [...answer.items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (parsed.desc) sorted.reverse();
    const before = (a: string, b: string): boolean => (parsed.desc ? a > b : a < b);
    let start = 0;
    if (parsed.after !== undefined) {
      const after = parsed.after;
      start = sorted.findIndex((i) => before(after, i.id));
      if (start < 0) start = sorted.length;
    } else if (parsed.from !== undefined) {
      const from = parsed.from;
      start = sorted.findIndex((i) => !before(i.id, from));
      if (start < 0) start = sorted.length;
    }
    let end = sorted.length;
    if (parsed.to !== undefined) {
      const to = parsed.to;
      const idx = sorted.findIndex((i) => before(to, i.id));
      if (idx >= 0) end = idx;
    }
    const pageItems = sorted.slice(start, Math.min(end, start + parsed.max));
    const more = start + pageItems.length < end;
    const page = Math.floor(start / parsed.max) + 1;

    const pageFault = this.takeFault(method, path, page);
    if (pageFault) {
      fail(pageFault.status, pageFault.id, pageFault.message);
      return;
    }

    const rendered = pageItems.map((i) => answer.render(i));
    const out = this.tamper ? this.tamper(rendered, { method, path, definition: answer.definition, list: true }) : rendered;
    this.check(method, path, answer.definition, validateList(answer.definition, out));
    const headers: Record<string, string> = { 'Accept-Ranges': 'id' };
    if (pageItems.length > 0) headers['Content-Range'] = `id ${pageItems[0]!.id}..${pageItems[pageItems.length - 1]!.id}; max=${parsed.max}`;
    if (more) {
      const last = pageItems[pageItems.length - 1]!.id;
      headers['Next-Range'] = `id ]${last}..; max=${parsed.max}${parsed.desc ? '; order=desc' : ''}`;
    }
    this.finish(req, res, { method, path, status: more ? 206 : 200, range, requestId, remaining: this.remainingFor(who) }, out, headers);
  }

  private finish(
    req: IncomingMessage,
    res: ServerResponse,
    rec: { method: string; path: string; status: number; range: string | undefined; requestId: string; remaining?: number },
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const entry: RecordedRequest = { method: rec.method, path: rec.path, status: rec.status, requestId: rec.requestId };
    if (rec.range !== undefined) entry.range = rec.range;
    this.requests.push(entry);
    this.send(req, res, rec.requestId, rec.status, body, headers, rec.remaining);
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
    remaining: number = this.rateLimit,
  ): void {
    const text = JSON.stringify(body);
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('RateLimit-Remaining', String(Math.floor(remaining)));
    res.setHeader('Request-Id', requestId);
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  /** Request bodies are checked against the link's schema too: a client sending fields Heroku does not know is a bug. */
  private checkRequest(method: string, path: string, definition: DefinitionName, body: unknown): void {
    for (const e of validate(definition, body)) this.schemaViolations.push(`request ${method} ${path} (${definition} schema): ${e}`);
  }

  private check(method: string, path: string, definition: DefinitionName, errors: string[]): void {
    for (const e of errors) this.schemaViolations.push(`${method} ${path} (#/definitions/${definition}): ${e}`);
  }

  /** Whose token the request carries (Bearer, or Basic with the token as password); null: none valid. */
  private principal(auth: string | undefined): Principal | null {
    if (!auth) return null;
    const [scheme, value = ''] = auth.trim().split(/\s+/, 2);
    let token: string | null = null;
    if (/^bearer$/i.test(scheme ?? '')) token = value;
    else if (/^basic$/i.test(scheme ?? '')) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      token = colon >= 0 ? decoded.slice(colon + 1) : null;
    }
    if (token === null || token === '') return null;
    if (token === this.token) return { kind: 'operator' };
    return this.identity.principal(token);
  }

  /** Rate-limit tokens left for whoever asks (the operator's bucket before anyone is known). */
  private remainingFor(who: Principal | null): number {
    if (who?.kind !== 'user') {
      this.refill();
      return this.rateLimit;
    }
    return this.userRateLimits.get(who.accountId) ?? DEFAULT_RATE_LIMIT;
  }

  /** The teams a user may see (a member of, in any role); null for the operator (every team). */
  private visibleTeams(who: Principal): Set<string> | null {
    return who.kind === 'user' ? this.accounts.teamIdsOf(who.accountId) : null;
  }

  /**
   * A user's access to what the route names: the team of every `:team`, `:app`, `:addon` (when no
   * `:app` names it) and `:attachment` parameter must be one of theirs, with the `admin` role for a
   * write. Unknown resources throw NotFound first (404 before 403).
   */
  private guard(who: Extract<Principal, { kind: 'user' }>, match: { route: Route; params: string[] }, method: string): void {
    const s = this.state;
    const write = method !== 'GET' && method !== 'HEAD';
    const names = match.route.pattern.filter((p) => p.startsWith(':'));
    const check = (teamId: string, what: string): void => {
      const role = this.accounts.roleIn(teamId, who.accountId);
      if (role === null) throw new HttpError(403, 'forbidden', `You do not have access to the ${what}.`);
      if (write && role !== 'admin') throw new HttpError(403, 'forbidden', `Only an admin of the team ${s.team(teamId).name} may change the ${what}.`);
    };
    names.forEach((name, i) => {
      const ref = match.params[i]!;
      if (name === ':team') {
        const team = s.team(ref);
        check(team.id, `team ${team.name}`);
      } else if (name === ':app') {
        const app = s.app(ref);
        check(app.teamId, `app ${app.name}`);
      } else if (name === ':addon' && !names.includes(':app')) {
        const addon = s.addon(ref);
        check(s.app(addon.appId).teamId, `add-on ${addon.name}`);
      } else if (name === ':attachment') {
        const att = s.attachment(ref);
        check(s.app(att.appId).teamId, `add-on attachment ${att.id}`);
      }
    });
  }

  private takeFault(method: string, path: string, page: number | undefined): Fault | undefined {
    const i = this.faults.findIndex(
      (f) =>
        (f.method === undefined || f.method === method) &&
        (typeof f.path === 'string' ? f.path === path : f.path.test(path)) &&
        f.onPage === page,
    );
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    f.times -= 1;
    if (f.times <= 0) this.faults.splice(i, 1);
    return f;
  }

  private match(method: string, path: string): { route: Route; params: string[] } | undefined {
    const segments = path.split('/').filter((s) => s !== '');
    let decoded: string[];
    try {
      decoded = segments.map((s) => decodeURIComponent(s));
    } catch {
      return undefined;
    }
    const m = method === 'HEAD' ? 'GET' : method;
    for (const route of this.routes) {
      if (route.method !== m || route.pattern.length !== decoded.length) continue;
      const params: string[] = [];
      let ok = true;
      route.pattern.forEach((p, i) => {
        if (p.startsWith(':')) params.push(decoded[i]!);
        else if (p !== decoded[i]) ok = false;
      });
      if (ok) return { route, params };
    }
    return undefined;
  }

  /** The `role` a team representation shows to whoever asks (the operator: `admin`). */
  private roleOf(who: Principal, teamId: string): TeamRole {
    return who.kind === 'user' ? (this.accounts.roleIn(teamId, who.accountId) ?? 'member') : 'admin';
  }

  private buildRoutes(): Route[] {
    const s = this.state;
    const one = (definition: DefinitionName, body: unknown): Answer => ({ kind: 'one', definition, body });
    const list = <T extends Sortable>(definition: DefinitionName, items: T[], render: (i: T) => unknown): Answer => ({
      kind: 'list',
      definition,
      items,
      render: render as (i: Sortable) => unknown,
    });
    const r = (method: string, path: string, handle: Route['handle'], extra: Partial<Route> = {}): Route => ({
      method,
      pattern: path.split('/').filter((x) => x !== ''),
      list: false,
      handle,
      ...extra,
    });
    const p = (params: string[], i: number): string => params[i]!;
    return [
      r('GET', '/account/rate-limits', (_ps, _b, who) => one('rate-limit', { remaining: Math.floor(this.remainingFor(who)) }), { free: true }),
      r('GET', '/account', (_ps, _b, who) =>
        one('account', this.accounts.accountJson(who.kind === 'user' ? this.accounts.user(who.accountId) : this.accounts.operator)),
      ),
      r('GET', '/teams', (_ps, _b, who) => {
        const mine = this.visibleTeams(who);
        const teams = mine === null ? s.allTeams() : s.allTeams().filter((t) => mine.has(t.id));
        return list('team', teams, (t) => s.teamJson(t, this.roleOf(who, t.id)));
      }, { list: true }),
      r('GET', '/teams/:team', (ps, _b, who) => {
        const team = s.team(p(ps, 0));
        return one('team', s.teamJson(team, this.roleOf(who, team.id)));
      }),
      r('GET', '/teams/:team/members', (ps) => list('team-member', this.accounts.members(p(ps, 0)), (m) => this.accounts.memberJson(m)), { list: true }),
      r('GET', '/teams/:team/addons', (ps) => list('add-on', s.teamAddons(p(ps, 0)), (a) => s.addonJson(a)), { list: true }),
      r('GET', '/teams/:team/apps', (ps) => list('team-app', s.teamApps(p(ps, 0)), (a) => s.teamAppJson(a)), { list: true }),
      r('GET', '/apps', (_ps, _b, who) => {
        const mine = this.visibleTeams(who);
        return list('app', s.allApps().filter((a) => mine === null || mine.has(a.teamId)), (a) => s.appJson(a));
      }, { list: true }),
      r('GET', '/apps/:app', (ps) => one('app', s.appJson(s.app(p(ps, 0))))),
      r('GET', '/apps/:app/addons', (ps) => list('add-on', s.appAddons(p(ps, 0)), (a) => s.addonJson(a)), { list: true }),
      r('GET', '/addons', (_ps, _b, who) => {
        const mine = this.visibleTeams(who);
        return list('add-on', s.allAddons().filter((a) => mine === null || mine.has(s.app(a.appId).teamId)), (a) => s.addonJson(a));
      }, { list: true }),
      r('GET', '/addons/:addon', (ps) => one('add-on', s.addonJson(s.addon(p(ps, 0))))),
      r('GET', '/addon-attachments', (_ps, _b, who) => {
        const mine = this.visibleTeams(who);
        const atts = s.allAttachments().filter((a) => mine === null || mine.has(s.app(a.appId).teamId));
        return list('add-on-attachment', atts, (a) => s.attachmentJson(a));
      }, { list: true }),
      r('GET', '/addon-attachments/:attachment', (ps) => one('add-on-attachment', s.attachmentJson(s.attachment(p(ps, 0))))),
      r(
        'GET',
        '/addons/:addon/addon-attachments',
        (ps) => list('add-on-attachment', s.addonAttachments(p(ps, 0)), (a) => s.attachmentJson(a)),
        { list: true },
      ),
      r(
        'GET',
        '/apps/:app/addon-attachments',
        (ps) => list('add-on-attachment', s.appAttachments(p(ps, 0)), (a) => s.attachmentJson(a)),
        { list: true },
      ),
      r('GET', '/apps/:app/webhooks', (ps) => {
        const app = s.app(p(ps, 0));
        return list('app-webhook', this.hooks.list(app.id), (w) => this.hooks.json(w, app));
      }, { list: true }),
      r('POST', '/apps/:app/webhooks', (ps, body) => {
        const app = s.app(p(ps, 0));
        this.checkRequest('POST', `/apps/${app.name}/webhooks`, 'app-webhook-create', body);
        return { ...one('app-webhook', this.hooks.json(this.hooks.create(app.id, body), app)), status: 201 };
      }),
      r('GET', '/apps/:app/webhooks/:id', (ps) => {
        const app = s.app(p(ps, 0));
        return one('app-webhook', this.hooks.json(this.hooks.get(app.id, p(ps, 1)), app));
      }),
      r('PATCH', '/apps/:app/webhooks/:id', (ps, body) => {
        const app = s.app(p(ps, 0));
        const hook = this.hooks.get(app.id, p(ps, 1)); // 404 before looking at the body
        this.checkRequest('PATCH', `/apps/${app.name}/webhooks/${hook.id}`, 'app-webhook-update', body);
        return one('app-webhook', this.hooks.json(this.hooks.update(app.id, hook.id, body), app));
      }),
      r('DELETE', '/apps/:app/webhooks/:id', (ps) => {
        const app = s.app(p(ps, 0));
        return one('app-webhook', this.hooks.json(this.hooks.remove(app.id, p(ps, 1)), app));
      }),
      r('GET', '/apps/:app/addons/:addon', (ps) => one('add-on', s.addonJson(s.appAddon(p(ps, 0), p(ps, 1))))),
      r('PATCH', '/apps/:app/addons/:addon', (ps, body) => {
        const addon = s.appAddon(p(ps, 0), p(ps, 1)); // 404 before looking at the body
        this.checkRequest('PATCH', `/apps/${p(ps, 0)}/addons/${p(ps, 1)}`, 'add-on-update', body);
        const b = requestObject(body);
        if (typeof b['plan'] !== 'string') throw new InvalidParams('Plan is required.');
        if (b['name'] !== undefined && typeof b['name'] !== 'string') throw new InvalidParams('Name must be a string.');
        const plan = s.planByIdentity(b['plan']);
        // Validate both before changing either.
        s.checkPlanChange(addon.id, plan);
        if (typeof b['name'] === 'string') s.checkAddonName(addon.id, b['name']);
        s.changePlan(addon.id, plan);
        if (typeof b['name'] === 'string') s.renameAddon(addon.id, b['name']);
        return one('add-on', s.addonJson(s.addon(addon.id)));
      }),
      r('GET', '/teams/apps/:app', (ps) => one('team-app', s.teamAppJson(s.app(p(ps, 0))))),
      r('PATCH', '/teams/apps/:app', (ps, body, who) => {
        const app = s.app(p(ps, 0));
        const b = requestObject(body);
        // "Update Locked" ({locked}) shares the route: a valid request the fake does not serve.
        if (!('owner' in b)) throw new InvalidParams('The fake only serves Transfer to Team: {"owner": "<team name or id>"}.');
        this.checkRequest('PATCH', `/teams/apps/${p(ps, 0)}`, 'team-app-transfer', body);
        // A team by name or id; "Transfer to Account" (an account's email or id) is not served (404 team).
        if (typeof b['owner'] !== 'string') throw new InvalidParams('Owner must be a team name.');
        if (who.kind === 'user') {
          const target = s.team(b['owner']);
          if (this.accounts.roleIn(target.id, who.accountId) !== 'admin') {
            throw new HttpError(403, 'forbidden', `Only an admin of the team ${target.name} may move an app into it.`);
          }
        }
        s.moveApp(app.id, b['owner']);
        return one('team-app', s.teamAppJson(app));
      }),
      r('GET', '/apps/:app/config-vars', (ps) => one('config-vars', s.configVars(p(ps, 0)))),
      r('PATCH', '/apps/:app/config-vars', (ps, body) => {
        const app = s.app(p(ps, 0)); // 404 before looking at the body, as Heroku does
        for (const e of validate('config-vars-update', body)) {
          this.schemaViolations.push(`request PATCH /apps/${app.name}/config-vars (config-var PATCH schema): ${e}`);
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          throw new InvalidParams('Request body must be a JSON object of config var names to values.');
        }
        return one('config-vars', s.patchConfigVars(app.id, body as Record<string, unknown>));
      }),
    ];
  }
}

/**
 * Whether a user token's scopes allow the request (Dev Center, "OAuth", scopes): `global` allows
 * everything; `identity` only reading the account; `read`/`write` reading/writing all but config
 * vars, which need `read-protected`/`write-protected` (a `-protected` or `write` scope also reads).
 */
function scopeAllows(scopes: ReadonlySet<OAuthScope>, method: string, route: Route): boolean {
  if (scopes.has('global')) return true;
  const path = route.pattern.join('/');
  if (path === 'account' || path === 'account/rate-limits') return method === 'GET' || method === 'HEAD';
  const configVars = route.pattern[route.pattern.length - 1] === 'config-vars';
  if (method === 'GET' || method === 'HEAD') {
    if (configVars) return scopes.has('read-protected') || scopes.has('write-protected');
    return ['read', 'write', 'read-protected', 'write-protected'].some((x) => scopes.has(x as OAuthScope));
  }
  if (configVars) return scopes.has('write-protected');
  return scopes.has('write') || scopes.has('write-protected');
}

function requestObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidParams('Request body must be a JSON object.');
  return body as Record<string, unknown>;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Parses Heroku's `Range` header: `id ..; max=200`, `id ]<lastid>..; max=200`, `id <from>..<to>`,
 * optionally `; order=desc`. The attribute may be left out (`]<lastid>..; max=N`). No header means
 * the first 200.
 */
export function parseRange(h: string | undefined): ParsedRange {
  const out: ParsedRange = { after: undefined, from: undefined, to: undefined, max: DEFAULT_PAGE, desc: false };
  if (h === undefined || h.trim() === '') return out;
  const [spec = '', ...opts] = h.split(';');
  const m = /^\s*(?:([a-z_]+)\s+)?(\]?)([^\s.]*)\.\.([^\s.]*)\s*$/.exec(spec);
  if (!m) throw new Error(`Invalid Range header: ${h}`);
  const [, attr, exclusive, start, end] = m;
  if (attr !== undefined && attr !== 'id') throw new Error(`Range attribute ${attr} is not supported here; use id.`);
  if (start) {
    if (exclusive) out.after = start;
    else out.from = start;
  }
  if (end) out.to = end;
  for (const opt of opts) {
    const [k = '', v = ''] = opt.split('=', 2).map((x) => x.trim());
    if (k === '') continue;
    if (k === 'max') {
      const n = Number.parseInt(v, 10);
      if (!Number.isFinite(n) || n < 1) throw new Error(`Invalid Range max: ${v}`);
      out.max = Math.min(n, MAX_PAGE);
    } else if (k === 'order') {
      if (v !== 'asc' && v !== 'desc') throw new Error(`Invalid Range order: ${v}`);
      out.desc = v === 'desc';
    } else {
      throw new Error(`Invalid Range option: ${k}`);
    }
  }
  return out;
}
