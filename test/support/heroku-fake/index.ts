/**
 * Heroku Platform API fake for tests: `const fake = await HerokuFake.start()`, seed it
 * (`addTeam`, `addApp`, `addAddon({ providerConfig })`, `attach`, …; lifecycle changes with
 * `moveApp`, `changePlan`, `renameAttachment`, `detach`, `destroyAddon`), point heroku-client at it
 * (`new Heroku({ token: fake.token, host: fake.url })`), and end each test with
 * `expect(fake.schemaViolations).toEqual([])`. See `server.ts` for the behaviour it copies.
 */
export { HerokuFake, parseRange } from './server.js';
export type { FailNextOptions, RateLimitEmulation, RecordedRequest, ResponseContext, ResponseTamper } from './server.js';
export type { AddAddonOptions, AddOn, AddOnAttachment, AddOnState, App, IdName, Region, Team, TeamApp } from './state.js';
export type { AppWebhook } from './webhooks.js';
export { validate, validateList, schemaPath } from './schema.js';
export type { DefinitionName } from './schema.js';
export type { FakePartner, PartnerAction, PartnerCallResult, PartnerConfigPatch, PartnerTarget, TokenRequest } from './partner.js';
