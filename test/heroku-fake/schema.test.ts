/**
 * The fake's schema validation itself: it accepts what the fake serves and catches wrong shapes.
 */
import Heroku from 'heroku-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HerokuFake, validate, validateList } from '../support/heroku-fake/index.js';

let fake: HerokuFake;

beforeEach(async () => {
  fake = await HerokuFake.start();
});

afterEach(async () => {
  const violations = [...fake.schemaViolations];
  await fake.stop();
  expect(violations).toEqual([]);
});

function seed() {
  fake.addTeam({ name: 'acme' });
  const app = fake.addApp({ name: 'acme-web', team: 'acme' });
  const addon = fake.addAddon({ app: 'acme-web', service: 'bucketeer', providerConfig: { BUCKETEER_BUCKET_NAME: 'bucketeer-abc' } });
  const att = fake.appAttachments('acme-web')[0]!;
  return { app, addon, att };
}

describe('schema validation', () => {
  it('accepts every representation the fake builds', () => {
    const { app, addon, att } = seed();
    expect(validate('app', app)).toEqual([]);
    expect(validate('add-on', addon)).toEqual([]);
    expect(validate('add-on-attachment', att)).toEqual([]);
    expect(validate('team', fake.team('acme'))).toEqual([]);
    expect(validate('config-vars', fake.configVars('acme-web'))).toEqual([]);
    expect(validate('config-vars-update', { A: 'x', B: null })).toEqual([]);
    expect(validate('rate-limit', { remaining: 10 })).toEqual([]);
  });

  it('catches a missing required field, an undeclared field and a wrong type', () => {
    const { addon, att, app } = seed();
    const { state: _state, ...noState } = addon;
    expect(validate('add-on', noState)).toEqual([expect.stringMatching(/must have required property 'state'/)]);
    expect(validate('add-on', { ...addon, bucket: 'x' })).toEqual([expect.stringMatching(/additional properties.*"bucket"/)]);
    expect(validate('add-on', { ...addon, state: 'running' })).toEqual([expect.stringMatching(/^\/state must be equal to one of/)]);
    expect(validate('add-on', { ...addon, app: { id: app.id } })).toEqual([expect.stringMatching(/^\/app must have required property 'name'/)]);
    // strictProperties: every declared property is required, none other allowed.
    const { namespace: _ns, ...noNamespace } = att;
    expect(validate('add-on-attachment', noNamespace)).toEqual([expect.stringMatching(/required property 'namespace'/)]);
    expect(validate('app', { ...app, extra: 1 })).toEqual([expect.stringMatching(/additional properties.*"extra"/)]);
    expect(validate('app', { ...app, id: 'not-a-uuid' })).toEqual([expect.stringMatching(/^\/id must match format "uuid"/)]);
    expect(validate('config-vars', { OK: 'x', NULLED: null })).toEqual([expect.stringMatching(/^\/NULLED must be string/)]);
    expect(validate('config-vars', { 'A-B': 'x' })).toEqual([expect.stringMatching(/additional properties.*"A-B"/)]);
    expect(validateList('add-on', [addon, { ...addon, id: 'x' }])).toEqual([expect.stringMatching(/^\[1\]\/id must match format/)]);
  });

  it('records a served answer of the wrong shape in schemaViolations, and keeps serving', async () => {
    const { addon } = seed();
    const heroku = new Heroku({ token: fake.token, host: fake.url });
    fake.tamperResponses((body, ctx) => {
      if (ctx.definition !== 'add-on') return body;
      const strip = (a: unknown) => {
        const { billing_entity: _b, ...rest } = a as Record<string, unknown>;
        return { ...rest, surprise: true };
      };
      return Array.isArray(body) ? body.map(strip) : strip(body);
    });
    expect(await heroku.get(`/addons/${addon.id}`)).toMatchObject({ id: addon.id, surprise: true });
    await heroku.get('/teams/acme/addons');
    expect(await heroku.get('/teams/acme')).toMatchObject({ name: 'acme' });
    expect(fake.schemaViolations).toHaveLength(4);
    expect(fake.schemaViolations).toEqual([
      expect.stringMatching(/^GET \/addons\/\S+ \(#\/definitions\/add-on\): \(root\) must have required property 'billing_entity'/),
      expect.stringMatching(/^GET \/addons\/\S+ \(#\/definitions\/add-on\): \(root\) must NOT have additional properties .*surprise/),
      expect.stringMatching(/^GET \/teams\/acme\/addons \(#\/definitions\/add-on\): \[0\]\(root\) must have required property 'billing_entity'/),
      expect.stringMatching(/^GET \/teams\/acme\/addons .*\[0\]\(root\) must NOT have additional properties/),
    ]);
    fake.tamperResponses(undefined);
    fake.clearSchemaViolations();
  });
});
