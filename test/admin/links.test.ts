/**
 * Linking and unlinking as the CLI, the API and the console share them, on in-memory fakes: the
 * rules that keep a team admin to their own team (the confused deputy), and the journal's actor.
 */
import { describe, expect, it } from 'vitest';
import { linkTeam, NotLinkedError, rotateLinkKey, unlinkTeam, type LinkDeps } from '../../src/admin/links.js';
import type { JournalEntry, Link, LinkAuth } from '../../src/store/types.js';
import { UserError } from '../../src/util/errors.js';

function world(teams: Record<string, { id: string; name: string }>, accountOf: (auth: LinkAuth) => string) {
  const links = new Map<string, Link>();
  const journal: JournalEntry[] = [];
  const verified: { auth: LinkAuth; externalIdRequired: boolean }[] = [];
  const deps: LinkDeps = {
    links: {
      save: async (l) => {
        const link = { ...l, createdAt: new Date(), updatedAt: new Date() };
        links.set(l.teamId, link);
        return link;
      },
      get: async (id) => links.get(id) ?? null,
      findByTeam: async (t) => links.get(t) ?? [...links.values()].find((l) => l.teamName === t) ?? null,
      list: async () => [...links.values()],
      remove: async (id) => links.delete(id),
    },
    journal: { append: async (e) => journal.push(e) },
    resolveTeam: async (t) => {
      const team = teams[t] ?? Object.values(teams).find((x) => x.id === t);
      if (!team) throw new UserError(`Heroku team "${t}" not found`);
      return team;
    },
    verify: async (auth, _field, options) => {
      verified.push({ auth, externalIdRequired: options?.externalIdRequired === true });
      return { accountId: accountOf(auth), arn: 'arn:aws:iam::x' };
    },
    instanceId: 'test',
  };
  return { deps, links, journal, verified };
}

const role = (arn: string): LinkAuth => ({ kind: 'role', roleArn: arn, externalId: 'hs3c-made-for-the-team' });
const field = (f: string) => f;

describe('linkTeam', () => {
  it('journals who linked, and passes on that the role must demand its external id', async () => {
    const w = world({ acme: { id: 't-acme', name: 'acme' } }, () => '111111111111');
    await linkTeam(w.deps, { team: 'acme', auth: role('arn:aws:iam::111111111111:role/r'), region: null, externalIdRequired: true }, 'heroku:ada@acme.example', field);
    expect(w.verified).toEqual([{ auth: role('arn:aws:iam::111111111111:role/r'), externalIdRequired: true }]);
    expect(w.journal).toEqual([expect.objectContaining({ action: 'link', resource: 't-acme', detail: expect.objectContaining({ actor: 'heroku:ada@acme.example', roleArn: 'arn:aws:iam::111111111111:role/r' }) })]);
  });

  it('refuses when the name no longer resolves to the team that was vouched for, before any AWS call', async () => {
    const w = world({ alpha: { id: 't-victim', name: 'alpha' } }, () => '111111111111');
    await expect(linkTeam(w.deps, { team: 'alpha', teamId: 't-mine', auth: role('arn:aws:iam::111111111111:role/r'), region: null }, 'heroku:m@x', field)).rejects.toThrow(/names another team "alpha"/);
    expect(w.verified).toEqual([]);
    expect(w.links.size).toBe(0);
  });

  it('with exclusiveAccount, refuses an account another team is linked to; the same team may link again', async () => {
    const w = world({ acme: { id: 't-acme', name: 'acme' }, beta: { id: 't-beta', name: 'beta' } }, () => '222222222222');
    await linkTeam(w.deps, { team: 'acme', auth: role('arn:aws:iam::222222222222:role/r'), region: null }, 'token:ops', field);
    await expect(linkTeam(w.deps, { team: 'beta', auth: role('arn:aws:iam::222222222222:role/r'), region: null, exclusiveAccount: true }, 'heroku:b@x', field)).rejects.toThrow(
      /AWS account 222222222222 is already linked to team acme: only an operator may link another team to it/,
    );
    expect(w.links.has('t-beta')).toBe(false);
    await linkTeam(w.deps, { team: 'acme', auth: role('arn:aws:iam::222222222222:role/r'), region: 'eu-west-1', exclusiveAccount: true }, 'heroku:a@x', field);
    expect(w.links.get('t-acme')?.region).toBe('eu-west-1');
  });
});

describe('unlinkTeam', () => {
  it('by id only, a stale name is not a match', async () => {
    const w = world({ victim: { id: 't-victim', name: 'victim' } }, () => '333333333333');
    await w.deps.links.save({ teamId: 't-victim', teamName: 'alpha', accountId: '333333333333', region: null, auth: role('arn:aws:iam::333333333333:role/r') });
    await expect(unlinkTeam(w.deps, 'alpha', 'heroku:m@x', true)).rejects.toBeInstanceOf(NotLinkedError);
    expect(w.links.has('t-victim')).toBe(true);
    await unlinkTeam(w.deps, 'alpha', 'token:ops');
    expect(w.links.has('t-victim')).toBe(false);
    expect(w.journal.at(-1)).toMatchObject({ action: 'unlink', detail: { actor: 'token:ops', team: 'alpha' } });
  });
});

describe('rotateLinkKey', () => {
  it('stores and journals nothing when the link changed between the check and the write (a concurrent link or rotation wins)', async () => {
    const w = world({ acme: { id: 't-acme', name: 'acme' } }, () => '444444444444');
    const old = { kind: 'keys' as const, accessKeyId: 'AKIAOLD', secretAccessKey: 'CANARYold' };
    await w.deps.links.save({ teamId: 't-acme', teamName: 'acme', accountId: '444444444444', region: null, auth: old });
    const before = w.links.get('t-acme');
    const replaceKey = async () => null; // the row no longer holds AKIAOLD
    await expect(
      rotateLinkKey({ ...w.deps, links: { get: w.deps.links.get, replaceKey } }, { team: 'acme', auth: { kind: 'keys', accessKeyId: 'AKIANEW', secretAccessKey: 'CANARYnew' } }, 'cli:ops', field),
    ).rejects.toThrow(/^the link of team acme changed while its key was being rotated: check it with `heroku-s3-controller links`, then rotate again$/);
    expect(w.links.get('t-acme')).toBe(before);
    expect(w.journal).toEqual([]);
  });
});

describe('rotateLinkKey: the old key\'s identity', () => {
  const old = { kind: 'keys' as const, accessKeyId: 'AKIAOLD', secretAccessKey: 'CANARYold' };
  const fresh = { kind: 'keys' as const, accessKeyId: 'AKIANEW', secretAccessKey: 'CANARYnew' };
  const setup = async (oldAnswer: () => Promise<{ accountId: string; arn: string }>) => {
    const w = world({ acme: { id: 't-acme', name: 'acme' } }, () => '555555555555');
    await w.deps.links.save({ teamId: 't-acme', teamName: 'acme', accountId: '555555555555', region: null, auth: old });
    const replaced: unknown[] = [];
    const deps: LinkDeps = {
      ...w.deps,
      verify: async (auth) => (auth.kind === 'keys' && auth.accessKeyId === 'AKIAOLD' ? oldAnswer() : { accountId: '555555555555', arn: 'arn:aws:iam::555555555555:user/other' }),
    };
    const rotate = () =>
      rotateLinkKey({ ...deps, links: { get: deps.links.get, replaceKey: async (...args: unknown[]) => (replaced.push(args), w.links.get('t-acme')!) } }, { team: 'acme', auth: fresh }, 'cli:ops', field);
    return { w, rotate, replaced };
  };
  const refusedWith = (code: string) => async () => {
    throw new UserError('STS refused it', { cause: Object.assign(new Error(code), { name: code }) });
  };

  it('compares with the old key\'s identity when STS answers for it', async () => {
    const { rotate, replaced } = await setup(async () => ({ accountId: '555555555555', arn: 'arn:aws:iam::555555555555:user/linked' }));
    await expect(rotate()).rejects.toThrow(/acts as arn:aws:iam::555555555555:user\/other, but team acme is linked as arn:aws:iam::555555555555:user\/linked/);
    expect(replaced).toEqual([]);
  });

  it('compares only the account when STS refuses the old key (deleted or deactivated)', async () => {
    const { rotate, replaced } = await setup(refusedWith('InvalidClientTokenId'));
    await rotate();
    expect(replaced).toHaveLength(1);
  });

  it('refuses, changing nothing, when the old key could not be checked for another reason (throttled, timed out)', async () => {
    const { w, rotate, replaced } = await setup(refusedWith('Throttling'));
    await expect(rotate()).rejects.toThrow(/^cannot check which IAM identity team acme's current key AKIAOLD acts as \(STS refused it\), so the new key cannot be compared with it: nothing changed; try again$/);
    expect(replaced).toEqual([]);
    expect(w.journal).toEqual([]);
  });
});
