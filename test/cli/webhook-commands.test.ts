/**
 * `webhooks register` (src/cli/webhook-commands.ts) in process against the Heroku fake: every app
 * of the linked teams gets one subscription to the receiver, signed with the first of
 * WEBHOOK_SECRETS; a second run changes nothing; apps of unlinked teams are left alone; the
 * secret is never printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhooksRegisterCommand } from '../../src/cli/webhook-commands.js';
import { loadConfig } from '../../src/config/config.js';
import { openStore } from '../../src/runtime.js';
import { createWorld, type World } from '../e2e/stand-world.js';

const SECRET = 'current-webhook-secret-5d1f0c9e';
const OLD = 'previous-webhook-secret-8a2b7c';
const URL_ = 'https://s3-controller.example.com/webhooks/heroku';
let world: World;

beforeAll(async () => {
  world = await createWorld();
  for (const team of ['acme', 'beta', 'outsiders']) world.fake.addTeam({ name: team });
  for (const [app, team] of [['acme-web', 'acme'], ['acme-api', 'acme'], ['beta-web', 'beta'], ['out-web', 'outsiders']] as const) {
    world.fake.addApp({ name: app, team });
  }
  const store = await openStore(loadConfig(world.env));
  try {
    for (const team of ['acme', 'beta']) {
      const t = world.fake.team(team);
      await store.links.save({ teamId: t.id, teamName: t.name, accountId: world.accountA, region: null, auth: { kind: 'role', roleArn: world.roleArn(world.accountA), externalId: null } });
    }
  } finally {
    await store.close();
  }
}, 60_000);

afterAll(async () => {
  expect(world.fake.schemaViolations).toEqual([]);
  await world.stop();
});

async function run(env: Record<string, string>, options: { rotateSecret?: boolean } = {}) {
  let out = '';
  const code = await webhooksRegisterCommand(
    { url: URL_, output: 'json', ...options },
    { config: loadConfig({ ...world.env, ...env }), write: (text) => (out += text) },
  );
  return { code, out, json: JSON.parse(out) as { created: number; updated: number; unchanged: number; failed: number } };
}

describe('webhooks register', () => {
  it('subscribes every app of the linked teams with the first secret, and only those', async () => {
    const first = await run({ WEBHOOK_SECRETS: `${SECRET},${OLD}` });
    expect(first.code).toBe(0);
    expect(first.json).toMatchObject({ created: 3, updated: 0, unchanged: 0, failed: 0 });
    for (const app of ['acme-web', 'acme-api', 'beta-web']) {
      const hooks = world.fake.webhooks(app);
      expect(hooks).toHaveLength(1);
      expect(hooks[0]!.secret).toBe(SECRET);
      expect(hooks[0]!.webhook.url).toBe(URL_);
      expect([...hooks[0]!.webhook.include].sort()).toEqual(['api:addon', 'api:addon-attachment']);
    }
    expect(world.fake.webhooks('out-web')).toEqual([]);
    expect(first.out).not.toContain(SECRET);
    expect(first.out).not.toContain(OLD);
  });

  it('is idempotent: a second run changes nothing', async () => {
    world.fake.resetRequests();
    const second = await run({ WEBHOOK_SECRETS: `${SECRET},${OLD}` });
    expect(second.code).toBe(0);
    expect(second.json).toMatchObject({ created: 0, updated: 0, unchanged: 3, failed: 0 });
    expect(world.fake.mutatingRequests()).toBe(0);
  });

  it('after a rotation, --rotate-secret writes the new first secret into every subscription', async () => {
    const NEW = 'rotated-webhook-secret-41e9b0d2';
    const rotated = await run({ WEBHOOK_SECRETS: `${NEW},${SECRET}` }, { rotateSecret: true });
    expect(rotated.json).toMatchObject({ created: 0, updated: 3, failed: 0 });
    for (const app of ['acme-web', 'acme-api', 'beta-web']) expect(world.fake.webhooks(app)[0]!.secret).toBe(NEW);
    expect(rotated.out).not.toContain(NEW);
  });

  it('refuses to run without WEBHOOK_SECRETS, saying what to set', async () => {
    await expect(run({})).rejects.toThrow(/WEBHOOK_SECRETS.*not set/);
  });
});
