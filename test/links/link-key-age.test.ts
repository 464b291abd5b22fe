/**
 * A link's own access key: when AWS made it is read while linking (ListAccessKeys of the caller,
 * on the authenticating moto), and keys past KEY_MAX_AGE are named with what to do.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { oldLinkKeys } from '../../src/links/link-key-age.js';
import { verifyCredentials } from '../../src/links/verify-credentials.js';
import type { Link } from '../../src/store/types.js';
import { motoAuthAdmin, motoAuthEnv, motoAuthPrincipal } from '../support/stand.js';

const DAY = 86_400_000;

describe('verifyCredentials', () => {
  it('reads when the linked key was made, when the user may list its own keys; null when it may not', async () => {
    const admin = motoAuthAdmin();
    const principal = motoAuthPrincipal();
    const config = loadConfig(motoAuthEnv(principal));
    const allowed = await verifyCredentials({ kind: 'keys', accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey }, { aws: config.aws, instanceId: 'test' });
    expect(allowed.accountId).toBe(admin.accountId);
    expect(allowed.keyCreatedAt).toBeInstanceOf(Date);
    expect(allowed.keyCreatedAt!.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    // The shared principal may only call STS: its key's age stays unknown, and the link is still good.
    const refused = await verifyCredentials({ kind: 'keys', accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey }, { aws: config.aws, instanceId: 'test' });
    expect(refused).toEqual({ accountId: principal.accountId, arn: principal.userArn, keyCreatedAt: null });
  });
});

describe('verifyCredentials against an IAM that never answers', () => {
  it('links all the same, with the key\'s age unknown, after its request timeout', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const admin = motoAuthAdmin();
      const config = loadConfig({ ...motoAuthEnv(motoAuthPrincipal()), AWS_ENDPOINT_URL_IAM: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}` });
      const identity = await verifyCredentials({ kind: 'keys', accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey }, { aws: config.aws, instanceId: 'test', requestTimeoutMs: 500 });
      expect(identity).toMatchObject({ accountId: admin.accountId, keyCreatedAt: null });
      expect(sockets.length).toBeGreaterThan(0); // it did ask
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});

describe('oldLinkKeys', () => {
  const now = new Date('2026-12-05T00:00:00Z');
  const link = (team: string, auth: Link['auth'], accessKeyCreatedAt: Date | null): Link => ({
    teamId: `t-${team}`, teamName: team, accountId: '111111111111', region: null, auth, accessKeyCreatedAt, createdAt: now, updatedAt: now,
  });
  it('names the keys past the limit, with the command to replace them; roles and unknown ages are not named', () => {
    const keys = (id: string): Link['auth'] => ({ kind: 'keys', accessKeyId: id, secretAccessKey: 'CANARYsecret' });
    const old = oldLinkKeys(
      [
        link('acme', keys('AKIAOLD'), new Date(now.getTime() - 120 * DAY)),
        link('beta', keys('AKIANEW'), new Date(now.getTime() - 10 * DAY)),
        link('gamma', keys('AKIAUNKNOWN'), null),
        link('delta', { kind: 'role', roleArn: 'arn:aws:iam::111111111111:role/r', externalId: null }, null),
      ],
      now,
      90 * DAY,
    );
    expect(old).toEqual([{ teamName: 'acme', accessKeyId: 'AKIAOLD', ageDays: 120, message: expect.stringMatching(/^the access key AKIAOLD that links team acme is 120 days old, past KEY_MAX_AGE \(90 days\): make a new key .*`heroku-s3-controller link --team acme/) }]);
    expect(JSON.stringify(old)).not.toContain('CANARY');
  });
});
