/**
 * Heroku Platform API fake for tests: `const fake = await HerokuFake.start()`, seed it
 * (`addTeam`, `addApp`, `addAddon({ providerConfig })`, `attach`, …; lifecycle changes with
 * `moveApp`, `changePlan`, `renameAttachment`, `detach`, `destroyAddon`), point heroku-client at it
 * (`new Heroku({ token: fake.token, host: fake.url })`), and end each test with
 * `expect(fake.schemaViolations).toEqual([])`. See `server.ts` for the behaviour it copies.
 *
 * Users and Heroku OAuth (`identity.ts`): `addUser({ email, name })`, `setTeamRole(team, email,
 * role)`, `registerOAuthClient({ redirectUri })`; then either `signInAs(email)` (the authorize URL
 * redirects straight back with a code: tests without a browser) or the authorize page's form
 * (email field, Allow / Deny: a browser test), `POST /oauth/token` for the token, and the Platform
 * API answers as that user. `issueUserToken(email, { scopes })` skips the flow.
 */
export { HerokuFake, parseRange } from './server.js';
export type { FailNextOptions, RateLimitEmulation, RecordedRequest, ResponseContext, ResponseTamper } from './server.js';
export type { AddAddonOptions, AddOn, AddOnAttachment, AddOnState, App, IdName, Region, Team, TeamApp, TeamRole } from './state.js';
export type { Account, TeamMember } from './accounts.js';
export { OAUTH_SCOPES } from './identity.js';
export type { AuthorizeDecision, FakeIdentity, IdentityTokenRequest, OAuthClient, OAuthScope, OAuthTokenAnswer, Principal, TokenExchangeAnswer } from './identity.js';
export type { AppWebhook } from './webhooks.js';
export { validate, validateList, schemaPath } from './schema.js';
export type { DefinitionName } from './schema.js';
export type { FakePartner, PartnerAction, PartnerCallResult, PartnerConfigPatch, PartnerTarget, TokenRequest } from './partner.js';
