/**
 * The admin console on the private listener: server-rendered pages over the admin views, for
 * team admins signed in through Heroku (their own teams only) and operators signed in with an API
 * token. Sessions live in the store behind a signed `HttpOnly`, `Secure`, `SameSite=Lax` cookie
 * and get a new id at every sign-in (no fixation); every form carries a CSRF token; sign-in is
 * rate limited; redirects after sign-in go to local paths only.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { approveGc, NothingToApproveError } from '../../admin/gc.js';
import { checkLinkRequest, linkTeam, NotLinkedError, unlinkTeam, type LinkDeps, type LinkRequest } from '../../admin/links.js';
import { loadReadModel, type AdminStore } from '../../admin/read-model.js';
import { breakerViews, linkViews, orphanViews, teamDetail, teamSummaries, type AdminReadModel } from '../../admin/views.js';
import { DEFAULT_KEY_MAX_AGE_MS, type LatestReports } from '../../metrics/pass-outcome.js';
import type { ApiTokenStore } from '../../store/api-token-store.js';
import type { SessionStore, SessionSubject, TeamRef } from '../../store/session-store.js';
import type { LinkAuth } from '../../store/types.js';
import { UserError } from '../../util/errors.js';
import { actorOf, type FailureCounter, type Principal } from '../authentication.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import { administers, adminTeamsOf, authorizeUrl, completeSignIn, SignInExpiredError, type HerokuSignInSettings } from './heroku-sign-in.js';
import type { Html } from './html.js';
import { gcPage, journalPage, linksPage, problemPage, signInPage, teamPage, teamsPage, type LinkFormValues, type PageFrame, type Section, type Viewer } from './pages.js';

export const SESSION_COOKIE = '__Host-hs3c-session';
const STATE_COOKIE = '__Host-hs3c-oauth';
const CSRF_COOKIE = '__Host-hs3c-csrf';
const HOME = '/teams';
/** How often Heroku is asked again which teams a signed-in team admin administers. */
const RECHECK_TEAMS_MS = 5 * 60_000;

export interface ConsoleDeps {
  store: AdminStore & { sessions: SessionStore; apiTokens: Pick<ApiTokenStore, 'verify'> };
  reports: LatestReports;
  linking: Pick<LinkDeps, 'resolveTeam' | 'verify' | 'instanceId'>;
  /** Heroku sign-in for team admins; null: operators only, with API tokens. */
  herokuSignIn: HerokuSignInSettings | null;
  /** Cookie signing keys, the first current (see SecretBox.derivedKeys). */
  cookieKeys: Buffer[];
  /** Makes each team's external id for role links by team admins (see {@link externalIdFor}). */
  externalIdKey: Buffer;
  sessionTtlMs: number;
  /** Shared with the API's token check: failed sign-ins count against the same allowance. */
  failures: FailureCounter;
  /** Sign-in attempts (token form, Heroku round trips) one client may start per minute. */
  signInsPerMinute?: number;
  /** KEY_MAX_AGE: older keys are flagged (default 90 days). */
  keyMaxAgeMs?: number;
  now?: () => Date;
}

/**
 * The external id a team admin's role link must use: made by the controller for the team (an HMAC
 * of its id), never chosen by whoever links, so a role that demands it can only be linked to that
 * team, the defence AWS describes against the confused deputy.
 */
export function externalIdFor(key: Buffer, teamId: string): string {
  return `hs3c-${createHmac('sha256', key).update(`role external id:${teamId}`).digest('base64url').slice(0, 32)}`;
}

/** A path on this console to go to after sign-in; anything else (another site, `//host`, `/\`) is refused. */
export function localPath(next: unknown): string {
  if (typeof next !== 'string' || next.length > 1000) return HOME;
  if (!/^\/(?![/\\])[\x21-\x7e]*$/.test(next)) return HOME;
  if (/^\/(login|logout|auth\/)/.test(next)) return HOME;
  return next;
}

export function adminConsole(deps: ConsoleDeps): FastifyPluginAsync {
  const now = deps.now ?? (() => new Date());
  const linkDeps: LinkDeps = { ...deps.linking, links: deps.store.links, journal: deps.store.journal };

  return async (app: FastifyInstance) => {
    await app.register(cookie, { secret: deps.cookieKeys, algorithm: 'sha256' });
    await app.register(formbody, { bodyLimit: 16 * 1024 });
    await app.register(csrf, {
      sessionPlugin: '@fastify/cookie',
      cookieKey: CSRF_COOKIE,
      cookieOpts: { path: '/', httpOnly: true, secure: true, sameSite: 'strict', signed: true },
      getToken: (request) => (request.body as Record<string, unknown> | undefined)?._csrf as string | undefined,
    });
    await app.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_request, context) => Object.assign(new Error(`too many sign-in attempts: retry in ${Math.ceil(context.ttl / 1000)}s`), { statusCode: 429 }),
    });
    const signInLimit = { rateLimit: { max: deps.signInsPerMinute ?? 10, timeWindow: 60_000 } };

    // Every console route is behind a session unless it says otherwise.
    app.addHook('onRoute', (route) => {
      route.config = { access: 'console', ...(route.config ?? {}) };
    });
    app.addHook('onRequest', async (request, reply) => {
      reply.header('content-security-policy', "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      reply.header('x-frame-options', 'DENY');
      reply.header('referrer-policy', 'no-referrer');
      reply.header('x-content-type-options', 'nosniff');
      if (request.routeOptions.config.access === 'anonymous') return;
      const principal = await sessionPrincipal(request);
      if (!principal) {
        // Back here after sign-in only for a page (a form's target cannot be opened).
        const next = request.method === 'GET' ? localPath(request.url) : HOME;
        return signInAnswer(reply, 401, next, null, 'Sign in to see this page.');
      }
      request.principal = principal;
    });

    async function sessionPrincipal(request: FastifyRequest): Promise<Principal | null> {
      const raw = request.cookies[SESSION_COOKIE];
      if (!raw) return null;
      const unsigned = request.unsignCookie(raw);
      if (!unsigned.valid || !unsigned.value) return null;
      const at = now();
      const session = await deps.store.sessions.find(unsigned.value, at);
      if (!session) return null;
      if (session.kind === 'operator') return principalOf(session);
      let teams = session.adminTeams;
      // What a team admin may see follows Heroku within minutes, not only at their next sign-in.
      if (deps.herokuSignIn && (!session.checkedAt || at.getTime() - session.checkedAt.getTime() >= RECHECK_TEAMS_MS)) {
        try {
          teams = await adminTeamsOf(deps.herokuSignIn, session.herokuToken);
          await deps.store.sessions.recheck(unsigned.value, teams, at);
        } catch (err) {
          if (err instanceof SignInExpiredError) {
            await deps.store.sessions.close(unsigned.value);
            return null;
          }
          // Heroku did not answer: the teams it gave last stand, and the next page asks again
          // (links and unlinks ask Heroku themselves, so they never act on a stale answer).
        }
      }
      return principalOf({ ...session, adminTeams: teams });
    }

    /** A new session, in a new cookie: whatever session id the browser held before is dropped. */
    async function startSession(request: FastifyRequest, reply: FastifyReply, subject: Parameters<SessionStore['open']>[0], expiresAt: Date): Promise<void> {
      const previous = request.cookies[SESSION_COOKIE] ? request.unsignCookie(request.cookies[SESSION_COOKIE]!) : null;
      if (previous?.valid && previous.value) await deps.store.sessions.close(previous.value);
      const id = await deps.store.sessions.open(subject, expiresAt);
      reply.setCookie(SESSION_COOKIE, id, { path: '/', httpOnly: true, secure: true, sameSite: 'lax', signed: true, expires: expiresAt });
      // Who signed in, and when: the journal shows every console change with its actor, and this.
      const actor = actorOf(principalOf(subject));
      await deps.store.journal.append({
        instanceId: deps.linking.instanceId,
        accountId: null,
        addonId: null,
        action: 'console-sign-in',
        resource: actor,
        phase: 'ok',
        detail: { actor, ...(subject.kind === 'team-admin' ? { adminTeams: subject.adminTeams.map((t) => t.name) } : { scope: subject.scope }) },
      });
    }

    /** The sign-in page, as the answer to a request that needs (another) sign-in. */
    const signInAnswer = (reply: FastifyReply, status: number, next: string, error: string | null, notice: string | null = null) =>
      sendPage(reply.code(status), signInPage({ next, herokuSignIn: deps.herokuSignIn !== null, csrf: reply.generateCsrf(), error, status: notice }));

    const viewerOf = (p: Principal): Viewer =>
      p.kind === 'operator'
        ? { label: `token ${p.name} (${p.scope})`, operator: true, mayWrite: p.scope === 'write' }
        : { label: `${p.email} (team admin)`, operator: false, mayWrite: true };
    const frame = (request: FastifyRequest, reply: FastifyReply, title: string, section: Section | null, extra: Partial<PageFrame> = {}): PageFrame => ({
      title,
      section,
      viewer: viewerOf(request.principal!),
      csrf: reply.generateCsrf(),
      ...extra,
    });
    /** The teams this principal may see: every linked team for an operator, their own for a team admin. */
    const visible = (p: Principal, m: AdminReadModel): AdminReadModel =>
      p.kind === 'operator' ? m : { ...m, links: m.links.filter((l) => p.teams.some((t) => t.id === l.teamId)), records: m.records.filter((r) => p.teams.some((t) => t.id === r.teamId)) };
    const model = async (p: Principal) => visible(p, await loadReadModel(deps.store, deps.reports, now(), deps.keyMaxAgeMs ?? DEFAULT_KEY_MAX_AGE_MS));
    const refuse = (request: FastifyRequest, reply: FastifyReply, status: 403 | 404, message: string) =>
      sendPage(reply.code(status), problemPage({ title: status === 403 ? 'Not allowed' : 'Not found', viewer: viewerOf(request.principal!), csrf: reply.generateCsrf() }, message));
    const mayWrite = (p: Principal) => p.kind === 'team-admin' || p.scope === 'write';

    app.get('/assets/console.css', { config: { access: 'anonymous' } }, async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(CONSOLE_CSS));
    app.get('/assets/console.js', { config: { access: 'anonymous' } }, async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(CONSOLE_JS));

    // ---- Sign-in and sign-out
    app.get<{ Querystring: { next?: string; error?: string } }>('/login', { config: { access: 'anonymous' } }, async (request, reply) =>
      signInAnswer(reply, 200, localPath(request.query.next), null),
    );

    app.post<{ Body: { token?: string; next?: string } }>('/login/token', { config: { access: 'anonymous', ...signInLimit }, preHandler: app.csrfProtection }, async (request, reply) => {
      const next = localPath(request.body?.next);
      if (deps.failures.exhausted(request.ip)) return signInAnswer(reply, 429, next, 'Too many failed sign-ins from this address: wait a minute and try again.');
      const record = typeof request.body?.token === 'string' ? await deps.store.apiTokens.verify(request.body.token.trim(), now()) : null;
      if (!record) {
        deps.failures.record(request.ip);
        return signInAnswer(reply, 401, next, 'That API token is unknown, revoked or expired.');
      }
      const expiresAt = new Date(Math.min(now().getTime() + deps.sessionTtlMs, record.expiresAt?.getTime() ?? Infinity));
      await startSession(request, reply, { kind: 'operator', tokenId: record.id, tokenName: record.name, scope: record.scope }, expiresAt);
      return reply.code(303).header('location', next).send();
    });

    app.get<{ Querystring: { next?: string } }>('/auth/heroku', { config: { access: 'anonymous', ...signInLimit } }, async (request, reply) => {
      if (!deps.herokuSignIn) return signInAnswer(reply, 404, HOME, 'Heroku sign-in is not configured here: sign in with an API token.');
      const state = randomBytes(24).toString('base64url');
      // The state and where to go after, bound to this browser for ten minutes.
      reply.setCookie(STATE_COOKIE, `${state}|${localPath(request.query.next)}`, { path: '/', httpOnly: true, secure: true, sameSite: 'lax', signed: true, maxAge: 600 });
      return reply.code(302).header('location', authorizeUrl(deps.herokuSignIn, state)).send();
    });

    app.get<{ Querystring: { code?: string; state?: string; error?: string } }>('/auth/heroku/callback', { config: { access: 'anonymous', ...signInLimit } }, async (request, reply) => {
      const signIn = deps.herokuSignIn;
      const failed = (status: number, error: string) => signInAnswer(reply, status, HOME, error);
      if (!signIn) return failed(404, 'Heroku sign-in is not configured here: sign in with an API token.');
      const held = request.cookies[STATE_COOKIE] ? request.unsignCookie(request.cookies[STATE_COOKIE]!) : null;
      reply.clearCookie(STATE_COOKIE, { path: '/', httpOnly: true, secure: true, sameSite: 'lax' });
      const [state, next] = held?.valid && held.value ? splitOnce(held.value, '|') : [null, HOME];
      if (!state || !sameText(state, request.query.state ?? '')) {
        deps.failures.record(request.ip);
        return failed(400, 'This sign-in did not start here, or took longer than ten minutes: start it again.');
      }
      if (request.query.error) return failed(401, request.query.error === 'access_denied' ? 'You declined the sign-in at Heroku.' : `Heroku refused the sign-in (${request.query.error}).`);
      if (!request.query.code) return failed(400, 'Heroku sent no code back: start the sign-in again.');
      let signedIn;
      try {
        signedIn = await completeSignIn(signIn, request.query.code, now());
      } catch (err) {
        deps.failures.record(request.ip);
        if (err instanceof UserError) return failed(401, err.message);
        throw err;
      }
      const expiresAt = new Date(Math.min(now().getTime() + deps.sessionTtlMs, signedIn.expiresAt.getTime()));
      await startSession(request, reply, { kind: 'team-admin', email: signedIn.email, herokuUserId: signedIn.userId, adminTeams: signedIn.adminTeams, herokuToken: signedIn.token }, expiresAt);
      return reply.code(303).header('location', localPath(next)).send();
    });

    app.post('/logout', { preHandler: app.csrfProtection }, async (request, reply) => {
      const raw = request.cookies[SESSION_COOKIE];
      const unsigned = raw ? request.unsignCookie(raw) : null;
      if (unsigned?.valid && unsigned.value) await deps.store.sessions.close(unsigned.value);
      reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, secure: true, sameSite: 'lax' });
      return reply.code(303).header('location', '/login').send();
    });

    // ---- Pages
    app.get('/', async (_request, reply) => reply.code(303).header('location', HOME).send());

    app.get('/teams', async (request, reply) => {
      const p = request.principal!;
      const m = await model(p);
      const unlinked = p.kind === 'team-admin' ? p.teams.filter((t) => !m.links.some((l) => l.teamId === t.id)) : [];
      return sendPage(reply, teamsPage(frame(request, reply, 'Teams', 'teams'), teamSummaries(m), unlinked));
    });

    app.get<{ Params: { team: string } }>('/teams/:team', async (request, reply) => {
      const team = teamDetail(await model(request.principal!), request.params.team);
      if (!team) return refuse(request, reply, 404, `No linked team "${request.params.team}" that you may see.`);
      return sendPage(reply, teamPage(frame(request, reply, `Team ${team.teamName}`, 'teams'), team));
    });

    const linkForm = (p: Principal, values: Partial<LinkFormValues> = {}) => ({
      teams: p.kind === 'team-admin' ? p.teams : null,
      // A team admin's role link uses the external id made for their team, never one they choose.
      externalIds: p.kind === 'team-admin' ? Object.fromEntries(p.teams.map((t) => [t.name, externalIdFor(deps.externalIdKey, t.id)])) : null,
      values: { team: '', via: 'keys' as const, accessKeyId: '', roleArn: '', region: '', ...values },
    });
    /** A team's name from a query string, for a notice: anything else is not shown (no text of a stranger's choosing). */
    const teamNameOf = (value: string | undefined) => (value && /^[a-z0-9][a-z0-9-]{0,62}$/.test(value) ? value : null);

    app.get<{ Querystring: { team?: string; linked?: string; unlinked?: string } }>('/links', async (request, reply) => {
      const p = request.principal!;
      const linked = teamNameOf(request.query.linked);
      const unlinked = teamNameOf(request.query.unlinked);
      const notice = linked ? `Linked ${linked}: its add-ons get buckets from the next pass.` : unlinked ? `Unlinked ${unlinked}. Its buckets and users were left in place.` : null;
      return sendPage(reply, linksPage(frame(request, reply, 'Links', 'links', { notice }), linkViews(await model(p)), linkForm(p, { team: request.query.team ?? '' })));
    });

    app.post<{ Body: Record<string, string | undefined> }>('/links', { preHandler: app.csrfProtection }, async (request, reply) => {
      const p = request.principal!;
      const b = request.body ?? {};
      const values: LinkFormValues = { team: (b.team ?? '').trim(), via: b.via === 'role' ? 'role' : 'keys', accessKeyId: (b.accessKeyId ?? '').trim(), roleArn: (b.roleArn ?? '').trim(), region: (b.region ?? '').trim() };
      const again = async (status: number, error: string) =>
        sendPage(reply.code(status), linksPage(frame(request, reply, 'Links', 'links', { error }), linkViews(await model(p)), linkForm(p, values)));
      if (!mayWrite(p)) return again(403, `The token "${p.kind === 'operator' ? p.name : ''}" is read-only: linking needs a token with --scope write.`);
      if (values.team === '') return again(422, 'Choose the Heroku Team to link.');
      const auth: LinkAuth =
        values.via === 'role'
          ? { kind: 'role', roleArn: values.roleArn, externalId: b.externalId ? b.externalId : null }
          : { kind: 'keys', accessKeyId: values.accessKeyId, secretAccessKey: b.secretAccessKey ?? '' };
      const linkRequest: LinkRequest = { team: values.team, auth, region: values.region === '' ? null : values.region };
      try {
        checkLinkRequest(linkRequest, (field) => FIELD_LABELS[field]);
        if (p.kind === 'team-admin') {
          // The team by the id Heroku vouched for, and a role only through the team's own external id.
          const team = await mustAdminister(p, values.team);
          Object.assign(linkRequest, { team: team.id, teamId: team.id });
          if (auth.kind === 'role') Object.assign(linkRequest, { auth: { ...auth, externalId: externalIdFor(deps.externalIdKey, team.id) }, externalIdRequired: true, exclusiveAccount: true });
        }
        const made = await linkTeam(linkDeps, linkRequest, actorOf(p), (field) => `the ${FIELD_LABELS[field].toLowerCase()}`);
        return reply.code(303).header('location', `/links?linked=${encodeURIComponent(made.link.teamName)}`).send();
      } catch (err) {
        if (err instanceof NotYoursError) return again(403, err.message);
        if (err instanceof SignInExpiredError) return signInAnswer(reply, 401, '/links', err.message);
        if (err instanceof UserError) return again(422, err.message);
        throw err;
      }
    });

    app.post<{ Params: { team: string } }>('/links/:team/unlink', { preHandler: app.csrfProtection }, async (request, reply) => {
      const p = request.principal!;
      if (!mayWrite(p)) return refuse(request, reply, 403, 'This token is read-only: unlinking needs a token with --scope write.');
      try {
        // A team admin unlinks by the id Heroku vouched for: a link's stored name may be another team's by now.
        const link =
          p.kind === 'team-admin'
            ? await unlinkTeam(linkDeps, (await mustAdminister(p, request.params.team)).id, actorOf(p), true)
            : await unlinkTeam(linkDeps, request.params.team, actorOf(p));
        return reply.code(303).header('location', `/links?unlinked=${encodeURIComponent(link.teamName)}`).send();
      } catch (err) {
        if (err instanceof NotYoursError) return refuse(request, reply, 403, err.message);
        if (err instanceof NotLinkedError) return refuse(request, reply, 404, err.message);
        if (err instanceof SignInExpiredError) return signInAnswer(reply, 401, '/links', err.message);
        throw err;
      }
    });

    /** Heroku is asked again, with the admin's own token: a role taken away since sign-in counts. */
    async function mustAdminister(p: Extract<Principal, { kind: 'team-admin' }>, team: string): Promise<TeamRef> {
      const known = p.teams.find((t) => t.name === team || t.id === team);
      const now = known && deps.herokuSignIn ? await administers(deps.herokuSignIn, p.herokuToken, known.id) : null;
      if (!now) throw new NotYoursError(`Heroku does not list you as an admin of team "${team}": only its admins may link or unlink it.`);
      return now;
    }

    app.get('/gc', async (request, reply) => {
      const p = request.principal!;
      if (p.kind !== 'operator') return refuse(request, reply, 403, 'Garbage collection and its breakers are for operators: sign in with an API token.');
      const m = await model(p);
      return sendPage(reply, gcPage(frame(request, reply, 'Garbage collection', 'gc'), breakerViews(m), orphanViews(m)));
    });

    app.post<{ Params: { account: string }; Body: { addonIds?: string | string[]; confirm?: string } }>('/gc/:account/approve', { preHandler: app.csrfProtection }, async (request, reply) => {
      const p = request.principal!;
      if (p.kind !== 'operator') return refuse(request, reply, 403, 'Garbage collection and its breakers are for operators: sign in with an API token.');
      const again = async (status: number, error: string | null, notice: string | null = null) => {
        const m = await model(p);
        return sendPage(reply.code(status), gcPage(frame(request, reply, 'Garbage collection', 'gc', { error, notice }), breakerViews(m), orphanViews(m)));
      };
      if (!mayWrite(p)) return again(403, `The token "${p.name}" is read-only: approving deletions needs a token with --scope write.`);
      if (request.body?.confirm !== 'yes') return again(422, 'Tick the box that confirms you read what will be deleted.');
      const ids = request.body?.addonIds;
      const expected = ids === undefined ? [] : Array.isArray(ids) ? ids : [ids];
      try {
        const approved = await approveGc({ gcBreakers: deps.store.gcBreakers, journal: deps.store.journal, instanceId: deps.linking.instanceId }, request.params.account, actorOf(p), now(), expected);
        return again(200, null, `Approved: the next pass deletes the resources of ${approved.length} add-on(s) in account ${request.params.account}.`);
      } catch (err) {
        if (err instanceof NothingToApproveError) return again(404, err.message);
        if (err instanceof UserError) return again(409, err.message);
        throw err;
      }
    });

    app.get<{ Querystring: Record<string, string | undefined> }>('/journal', async (request, reply) => {
      const p = request.principal!;
      if (p.kind !== 'operator') return refuse(request, reply, 403, 'The journal is for operators: sign in with an API token.');
      const q = request.query;
      const filter: Record<string, string> = {};
      for (const key of ['action', 'actor', 'addon', 'account']) if (q[key]) filter[key] = q[key]!.trim();
      const entries = await deps.store.journal.list({
        ...(filter.action ? { action: filter.action } : {}),
        ...(filter.actor ? { actor: filter.actor } : {}),
        ...(filter.addon ? { addonId: filter.addon } : {}),
        ...(filter.account ? { accountId: filter.account } : {}),
        limit: 200,
      });
      return sendPage(reply, journalPage(frame(request, reply, 'Journal', 'journal'), entries.map((e) => ({ ...e, actor: typeof e.detail.actor === 'string' ? e.detail.actor : null })), filter));
    });
  };
}

const FIELD_LABELS = { region: 'Region', roleArn: 'Role ARN', accessKeyId: 'Access key id', secretAccessKey: 'Secret access key', externalId: 'External id' } as const;

class NotYoursError extends UserError {}

/** Who a session's subject is, as the rest of the listener names principals. */
function principalOf(subject: SessionSubject): Principal {
  return subject.kind === 'operator'
    ? { kind: 'operator', tokenId: subject.tokenId, name: subject.tokenName, scope: subject.scope }
    : { kind: 'team-admin', email: subject.email, teams: subject.adminTeams, herokuToken: subject.herokuToken };
}

function sendPage(reply: FastifyReply, page: Html): FastifyReply {
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.text);
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, HOME] : [text.slice(0, at), text.slice(at + separator.length)];
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
