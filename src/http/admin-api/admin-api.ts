/**
 * The admin API, `/api/v1` on the private listener: links (list, link with the STS check, unlink,
 * health), teams with their add-ons, drift, orphans, the mass-deletion breakers and their
 * approval, key rotations (list, request, approve), and the journal. Every answer follows the
 * OpenAPI document served at `/api/v1/openapi.json`; every change is journaled with the principal
 * that made it. A team-admin principal acts on the add-ons of the teams it administers only.
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { approveGc, NothingToApproveError } from '../../admin/gc.js';
import { checkLinkRequest, linkTeam, NotLinkedError, unlinkTeam, type LinkDeps } from '../../admin/links.js';
import { loadReadModel, type AdminStore } from '../../admin/read-model.js';
import {
  approveRotations,
  OutsideTeamsError,
  planRotations,
  requestRotations,
  ROTATION_TARGETS,
  RotationRefusedError,
  RotationTargetNotFoundError,
  rotationViews,
  type RotationDeps,
  type RotationTiming,
} from '../../admin/rotations.js';
import { DEFAULT_ROTATION_POLICY } from '../../reconciler/rotation.js';
import { breakerViews, linkViews, orphanViews, teamDetail, teamSummaries } from '../../admin/views.js';
import { DEFAULT_KEY_MAX_AGE_MS, type LatestReports } from '../../metrics/pass-outcome.js';
import type { LinkAuth } from '../../store/types.js';
import { UserError } from '../../util/errors.js';
import { actorOf, type Principal } from '../authentication.js';
import * as S from './schemas.js';

export interface AdminApiDeps {
  store: AdminStore;
  reports: LatestReports;
  /** How a link is proven and named: Heroku for the team, STS for the credentials. */
  linking: Pick<LinkDeps, 'resolveTeam' | 'verify' | 'instanceId'>;
  /** KEY_MAX_AGE: older keys are flagged (default 90 days). */
  keyMaxAgeMs?: number;
  /** An app named for a rotation, as Heroku knows it; without it, rotations by app are refused (422). */
  resolveApp?: RotationDeps['resolveApp'];
  /** ROTATION_OVERLAP and ROTATION_DEACTIVATED_GRACE, as plans describe them (default 1h and 1d). */
  rotationTiming?: RotationTiming;
  now?: () => Date;
}

export const API_PREFIX = '/api/v1';

interface LinkBody {
  team: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  roleArn?: string;
  externalId?: string;
}

export function adminApi(deps: AdminApiDeps): FastifyPluginAsync {
  const now = deps.now ?? (() => new Date());
  const model = () => loadReadModel(deps.store, deps.reports, now(), deps.keyMaxAgeMs ?? DEFAULT_KEY_MAX_AGE_MS);
  const linkDeps: LinkDeps = { ...deps.linking, links: deps.store.links, journal: deps.store.journal };
  const timing = deps.rotationTiming ?? DEFAULT_ROTATION_POLICY;
  const rotationDeps: RotationDeps = {
    store: deps.store,
    resolveApp: deps.resolveApp ?? (async () => {
      throw new UserError('this controller has no Heroku API to name apps with: rotate by addon, team or account');
    }),
    instanceId: deps.linking.instanceId,
    timing,
  };

  return async (root) => {
    await root.register(
      async (api: FastifyInstance) => {
        await api.register(swagger, {
          openapi: {
            openapi: '3.1.0',
            info: {
              title: 'heroku-s3-controller admin API',
              version: '1',
              description: 'Links, teams and their add-ons, drift, orphans, garbage-collection breakers, key rotations and the journal. Send "Authorization: Bearer <operator API token>".',
            },
            components: { securitySchemes: { operatorToken: { type: 'http', scheme: 'bearer', description: 'An operator API token (`heroku-s3-controller token create`).' } } },
            security: [{ operatorToken: [] }],
          },
        });

        api.get('/openapi.json', { schema: { hide: true } }, async () => api.swagger());

        api.get('/whoami', { schema: { summary: 'Who the credentials belong to', response: { 200: S.Whoami, ...S.COMMON_ERRORS } } }, async (request) => {
          const p = request.principal!;
          return p.kind === 'operator' ? { kind: p.kind, name: p.name, scope: p.scope } : { kind: p.kind, name: p.email, scope: 'write' };
        });

        api.get('/links', { schema: { summary: 'Linked teams, with how each account read on the latest pass', response: { 200: S.obj({ links: { type: 'array', items: S.LinkView } }), ...S.COMMON_ERRORS } } }, async () => ({
          links: linkViews(await model()),
        }));

        api.post<{ Body: LinkBody }>(
          '/links',
          {
            schema: {
              summary: 'Link a team to an AWS account; the credentials are proven with STS first, and nothing is stored if they fail',
              body: S.LinkRequest,
              response: { 201: S.obj({ link: S.LinkView, arn: { type: 'string' } }), 400: S.ErrorAnswer, 422: S.ErrorAnswer, ...S.COMMON_ERRORS },
            },
          },
          async (request, reply) => {
            const request_ = linkRequestOf(request.body);
            const made = await linkTeam(linkDeps, request_, actorOf(request.principal!), (field) => field).catch(unprocessable);
            const view = linkViews({ ...(await model()), links: [made.link] })[0]!;
            return reply.code(201).send({ link: view, arn: made.arn });
          },
        );

        api.delete<{ Params: { team: string } }>(
          '/links/:team',
          { schema: { summary: 'Unlink a team; its buckets and users stay where they are', params: S.obj({ team: { type: 'string', minLength: 1 } }), response: { 200: S.obj({ unlinked: S.LinkView }), 404: S.ErrorAnswer, ...S.COMMON_ERRORS } } },
          async (request, reply) => {
            try {
              const link = await unlinkTeam(linkDeps, request.params.team, actorOf(request.principal!));
              return { unlinked: linkViews({ ...(await model()), links: [link] })[0]! };
            } catch (err) {
              if (err instanceof NotLinkedError) return notFound(reply, err.message);
              throw err;
            }
          },
        );

        api.get('/teams', { schema: { summary: 'Linked teams with their add-on, drift and orphan counts', response: { 200: S.obj({ teams: { type: 'array', items: S.TeamSummary } }), ...S.COMMON_ERRORS } } }, async () => ({
          teams: teamSummaries(await model()),
        }));

        api.get<{ Params: { team: string } }>(
          '/teams/:team',
          { schema: { summary: 'One team: its link and each add-on\'s bucket, user, key, deliveries and drift', params: S.obj({ team: { type: 'string', minLength: 1 } }), response: { 200: S.TeamDetail, 404: S.ErrorAnswer, ...S.COMMON_ERRORS } } },
          async (request, reply) => teamDetail(await model(), request.params.team) ?? notFound(reply, `team "${request.params.team}" is not linked; GET ${API_PREFIX}/links lists the linked teams`),
        );

        api.get('/drift', { schema: { summary: 'The latest drift report', response: { 200: S.DriftReportSchema, 503: S.ErrorAnswer, ...S.COMMON_ERRORS } } }, async (_request, reply) => {
          return deps.reports.latest ?? reply.code(503).send({ error: 'no reconcile pass has completed yet: the drift report appears after the first pass' });
        });

        api.get('/orphans', { schema: { summary: 'Resources no add-on wants, soonest deletion first, with the time left in their grace', response: { 200: S.obj({ orphans: { type: 'array', items: S.OrphanView } }), ...S.COMMON_ERRORS } } }, async () => ({
          orphans: orphanViews(await model()),
        }));

        api.get('/gc/breakers', { schema: { summary: 'Accounts whose mass-deletion breaker tripped, with what an approval deletes', response: { 200: S.obj({ breakers: { type: 'array', items: S.BreakerView } }), ...S.COMMON_ERRORS } } }, async () => ({
          breakers: breakerViews(await model()),
        }));

        api.post<{ Params: { account: string }; Body: { addonIds: string[] } }>(
          '/gc/breakers/:account/approve',
          {
            schema: {
              summary: 'Let the deletions a breaker holds proceed once; the body names them, and a breaker holding anything else is refused',
              params: S.obj({ account: { type: 'string', pattern: '^\\d{12}$' } }),
              body: S.ApproveRequest,
              response: { 200: S.obj({ approved: { type: 'array', items: { type: 'string' } } }), 400: S.ErrorAnswer, 404: S.ErrorAnswer, 409: S.ErrorAnswer, ...S.COMMON_ERRORS },
            },
          },
          async (request, reply) => {
            try {
              const approved = await approveGc(
                { gcBreakers: deps.store.gcBreakers, journal: deps.store.journal, instanceId: deps.linking.instanceId },
                request.params.account,
                actorOf(request.principal!),
                now(),
                request.body.addonIds,
              );
              return { approved };
            } catch (err) {
              if (err instanceof NothingToApproveError) return notFound(reply, err.message);
              if (err instanceof UserError) return reply.code(409).send({ error: err.message });
              throw err;
            }
          },
        );

        api.get('/rotations', { schema: { summary: 'Key rotations in flight: step, since when, trigger, old and new key ids, who asked', response: { 200: S.obj({ rotations: { type: 'array', items: S.RotationView } }), ...S.COMMON_ERRORS } } }, async (request) => ({
          rotations: await rotationViews(deps.store, timing, teamsOf(request.principal!)),
        }));

        api.post<{ Body: RotateBody }>(
          '/rotations',
          {
            schema: {
              summary: 'Rotate the access keys of an add-on, an app, a team or an account, all or none (dryRun: the plan only); a rotation waiting in step reactivated is resumed',
              body: S.RotateRequest,
              response: { 200: S.RotationPlanAnswer, 202: S.RotationPlanAnswer, 400: S.ErrorAnswer, 404: S.ErrorAnswer, 409: S.ErrorAnswer, 422: S.ErrorAnswer, ...S.COMMON_ERRORS },
            },
          },
          async (request, reply) => {
            const body = request.body;
            const given = ROTATION_TARGETS.filter((by) => body[by] !== undefined);
            if (given.length !== 1) throw badRequest('give exactly one of addon, app, team or account: the keys to rotate');
            const principal = request.principal!;
            try {
              const plan = await planRotations(rotationDeps, { by: given[0]!, value: body[given[0]!]! }, { compromised: body.compromised === true, ...scopeOf(principal) }, now());
              if (body.dryRun === true) return { requested: false, ...plan };
              await requestRotations(rotationDeps, plan, actorOf(principal), now());
              return reply.code(202).send({ requested: true, ...plan });
            } catch (err) {
              return refusal(reply, err);
            }
          },
        );

        api.post<{ Body: { account: string } }>(
          '/rotations/approve',
          {
            schema: {
              summary: 'Let the old-key deactivations the rotation breaker holds in an account proceed',
              body: S.RotateApproveRequest,
              response: { 200: S.obj({ account: { type: 'string' }, approved: { type: 'integer', minimum: 1 } }), 400: S.ErrorAnswer, 404: S.ErrorAnswer, ...S.COMMON_ERRORS },
            },
          },
          async (request, reply) => {
            const { account } = request.body;
            const principal = request.principal!;
            const teams = teamsOf(principal);
            try {
              // A team admin only for an account no other team is linked to.
              if (teams && (await deps.store.links.list()).some((l) => l.accountId === account && !teams.has(l.teamId))) {
                throw new OutsideTeamsError(`AWS account ${account} is outside the teams you administer: only an operator may approve its rotations`);
              }
              return { account, approved: await approveRotations(rotationDeps, account, actorOf(principal), now()) };
            } catch (err) {
              return refusal(reply, err);
            }
          },
        );

        api.get<{ Querystring: { action?: string; addon?: string; account?: string; actor?: string; after?: number; before?: number; limit?: number } }>(
          '/journal',
          { schema: { summary: 'Journal lines, newest last, filtered', querystring: S.JournalQuery, response: { 200: S.obj({ entries: { type: 'array', items: S.JournalEntry } }), 400: S.ErrorAnswer, ...S.COMMON_ERRORS } } },
          async (request) => {
            const q = request.query;
            const entries = await deps.store.journal.list({
              ...(q.action !== undefined ? { action: q.action } : {}),
              ...(q.addon !== undefined ? { addonId: q.addon } : {}),
              ...(q.account !== undefined ? { accountId: q.account } : {}),
              ...(q.actor !== undefined ? { actor: q.actor } : {}),
              ...(q.after !== undefined ? { afterId: q.after } : {}),
              ...(q.before !== undefined ? { beforeId: q.before } : {}),
              limit: q.limit ?? 100,
            });
            return {
              entries: entries.map((e) => ({ ...e, at: e.at.toISOString(), actor: typeof e.detail.actor === 'string' ? e.detail.actor : null })),
            };
          },
        );
      },
      { prefix: API_PREFIX },
    );
  };
}

interface RotateBody {
  addon?: string;
  app?: string;
  team?: string;
  account?: string;
  compromised?: boolean;
  dryRun?: boolean;
}

/** A team admin's teams (ids), to which rotations are confined; undefined for an operator. */
function teamsOf(principal: Principal): ReadonlySet<string> | undefined {
  return principal.kind === 'team-admin' ? new Set(principal.teams.map((t) => t.id)) : undefined;
}

function scopeOf(principal: Principal): { teams?: ReadonlySet<string> } {
  const teams = teamsOf(principal);
  return teams ? { teams } : {};
}

/** A rotation refused: 404 for nothing to act on, 403 outside a team admin's teams, 409 a conflict, 422 anything else said in one sentence. */
function refusal(reply: FastifyReply, err: unknown) {
  if (err instanceof RotationTargetNotFoundError || err instanceof NothingToApproveError) return notFound(reply, err.message);
  if (err instanceof OutsideTeamsError) return reply.code(403).send({ error: err.message });
  if (err instanceof RotationRefusedError) return reply.code(409).send({ error: err.message });
  if (err instanceof UserError) return reply.code(422).send({ error: err.message });
  throw err;
}

function linkRequestOf(body: LinkBody) {
  const hasKeys = body.accessKeyId !== undefined || body.secretAccessKey !== undefined;
  if (hasKeys && body.roleArn !== undefined) throw badRequest('give either accessKeyId and secretAccessKey, or roleArn, not both');
  if (body.externalId !== undefined && body.roleArn === undefined) throw badRequest('externalId only goes with roleArn');
  let auth: LinkAuth;
  if (body.roleArn !== undefined) auth = { kind: 'role', roleArn: body.roleArn, externalId: body.externalId ?? null };
  else if (body.accessKeyId !== undefined && body.secretAccessKey !== undefined) auth = { kind: 'keys', accessKeyId: body.accessKeyId, secretAccessKey: body.secretAccessKey };
  else throw badRequest('give accessKeyId and secretAccessKey, or roleArn');
  const request = { team: body.team, auth, region: body.region ?? null };
  try {
    checkLinkRequest(request, (field) => field);
  } catch (err) {
    throw badRequest((err as Error).message);
  }
  return request;
}

/** A client error fastify answers with its status and this message. */
function badRequest(message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode: 400 });
}

/** A refusal the caller can fix (unknown team, credentials STS refused): 422 with its sentence. */
function unprocessable(err: unknown): never {
  if (err instanceof UserError) throw Object.assign(new Error(err.message), { statusCode: 422 });
  throw err;
}

function notFound(reply: FastifyReply, message: string) {
  return reply.code(404).send({ error: message });
}
