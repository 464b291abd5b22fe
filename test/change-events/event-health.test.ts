/**
 * EventHealth: each linked account's change-event path, with a clock the test moves. Only a path
 * whose probe came back, whose queues answer and are read often is `watching`.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { EventHealth, INTAKE_OUTCOMES, notConfiguredDetail, type EventHealthOptions, type IntakeOutcome } from '../../src/change-events/event-health.js';

const A = '111122223333';
const B = '444455556666';
const C = '777788889999';
const EU = 'eu-west-1';
const US = 'us-east-1';
const queueUrl = (account: string, region: string, name = 'hsc-prod-changes') => `https://sqs.${region}.amazonaws.com/${account}/${name}`;
const WINDOWS = { fullMs: 24 * 3600_000, exposureMs: 15 * 60_000 };
const T0 = Date.parse('2024-05-02T10:00:00.000Z');

let nowMs = T0;
const advance = (ms: number) => {
  nowMs += ms;
};
const at = (offsetMs: number) => new Date(T0 + offsetMs).toISOString();

function health(options: EventHealthOptions = {}): EventHealth {
  return new EventHealth({ now: () => new Date(nowMs), usualWindows: WINDOWS, ...options });
}

/** A health with `A` set up in the given regions, polled once and proven by a probe in each, and a CloudTrail record of it arrived. */
function healthyA(regions: string[] = [EU], options: EventHealthOptions = {}): EventHealth {
  const h = health(options);
  h.configure(regions.map((region) => ({ accountId: A, region, queueUrl: queueUrl(A, region) })));
  h.counted(A, 'own-change');
  for (const region of regions) {
    h.probeSent(A, region, `probe-${region}-1`);
    h.polled(A, region);
    expect(h.probeArrived(A, region, `probe-${region}-1`)).toBe(true);
  }
  expect(h.status(A).state).toBe('healthy');
  return h;
}

beforeEach(() => {
  nowMs = T0;
});

describe('notConfiguredDetail', () => {
  it('names DEEP_CHECK_WINDOW, the windows in words, and the command that sets events up', () => {
    const detail = notConfiguredDetail(WINDOWS);
    expect(detail).toMatch(/^events not configured: drift found within DEEP_CHECK_WINDOW/);
    expect(detail).toContain('1 d for every setting');
    expect(detail).toContain('15 min for public exposure');
    expect(detail).toContain('heroku-s3-controller events setup --team TEAM');
  });

  it('still names DEEP_CHECK_WINDOW without the windows', () => {
    expect(notConfiguredDetail()).toContain('DEEP_CHECK_WINDOW');
    expect(notConfiguredDetail()).toContain('events setup');
  });
});

describe('EventHealth states', () => {
  it('reports a linked account without a queue as not configured, with the windows', () => {
    const h = health();
    h.setLinkedAccounts([A]);
    expect(h.status(A)).toEqual({ state: 'not-configured', detail: notConfiguredDetail(WINDOWS) });
    expect(h.watching(A)).toBe(false);
    expect(h.report()).toEqual([{ accountId: A, state: 'not-configured', detail: notConfiguredDetail(WINDOWS), received: {}, lastEventAt: null, regions: [] }]);
  });

  it('reports an account never heard of as not configured', () => {
    expect(health().status(C).state).toBe('not-configured');
    expect(health().watching(C)).toBe(false);
  });

  it('is starting from setup until the first probe comes back, then healthy', () => {
    const h = health();
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    const starting = h.status(A);
    expect(starting.state).toBe('starting');
    expect(starting.detail).toContain('until the first probe comes back');
    expect(starting.detail).toContain('1 d for every setting, 15 min for public exposure');
    expect(h.watching(A)).toBe(false);

    h.polled(A, EU);
    expect(h.status(A).state).toBe('starting');
    h.probeSent(A, EU, 'p-1');
    advance(3_000);
    h.polled(A, EU);
    expect(h.status(A).state).toBe('starting');
    expect(h.watching(A)).toBe(false);

    expect(h.probeArrived(A, EU, 'p-1')).toBe(true);
    // The probe proves the rule and the queue, not CloudTrail: a record of a change must arrive too.
    expect(h.status(A)).toEqual({ state: 'starting', detail: expect.stringContaining('no CloudTrail record of a change in this account has arrived yet: is a trail logging') });
    expect(h.watching(A)).toBe(false);
    h.counted(A, 'malformed'); // junk proves nothing
    expect(h.status(A).state).toBe('starting');
    h.counted(A, 'own-change');
    expect(h.status(A)).toEqual({ state: 'healthy', detail: expect.stringContaining('within about a minute') });
    expect(h.watching(A)).toBe(true);
    // A day without any: not trusted any more (a trail stopped, or the account went quiet).
    advance(24 * 3_600_000 + 1);
    h.polled(A, EU);
    h.probeSent(A, EU, 'p-2');
    h.probeArrived(A, EU, 'p-2');
    expect(h.status(A)).toEqual({ state: 'starting', detail: expect.stringContaining('no CloudTrail record of a change in this account has arrived since') });
    expect(h.watching(A)).toBe(false);
  });

  it('is not healthy on a probe alone while the queue has never been polled', () => {
    const h = health();
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    h.probeSent(A, EU, 'p-1');
    h.probeArrived(A, EU, 'p-1');
    expect(h.status(A).state).toBe('starting');
  });

  it('ignores an unknown probe id and a second arrival of the same probe', () => {
    const h = health();
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    h.polled(A, EU);
    expect(h.probeArrived(A, EU, 'never-sent')).toBe(false);
    h.probeSent(A, EU, 'p-1');
    expect(h.probeArrived(A, EU, 'p-2')).toBe(false);
    expect(h.status(A).state).toBe('starting');
    advance(2_000);
    expect(h.probeArrived(A, EU, 'p-1')).toBe(true);
    advance(60_000);
    expect(h.probeArrived(A, EU, 'p-1')).toBe(false);
    expect(h.report()[0]!.regions[0]!.lastProbe).toEqual({ sentAt: at(0), arrivedAt: at(2_000), roundTripMs: 2_000 });
  });

  it('takes a probe only in the region it was sent through', () => {
    const h = health();
    h.configure([
      { accountId: A, region: EU, queueUrl: queueUrl(A, EU) },
      { accountId: A, region: US, queueUrl: queueUrl(A, US) },
    ]);
    h.probeSent(A, EU, 'p-eu');
    expect(h.probeArrived(A, US, 'p-eu')).toBe(false);
    expect(h.probeArrived(B, EU, 'p-eu')).toBe(false);
    expect(h.probeArrived(A, EU, 'p-eu')).toBe(true);
  });

  it('is healthy only when every region is: one region still starting keeps the account starting', () => {
    const h = health();
    h.configure([
      { accountId: A, region: EU, queueUrl: queueUrl(A, EU) },
      { accountId: A, region: US, queueUrl: queueUrl(A, US) },
    ]);
    h.polled(A, EU);
    h.polled(A, US);
    h.probeSent(A, EU, 'p-eu');
    h.probeArrived(A, EU, 'p-eu');
    expect(h.status(A).state).toBe('starting');
    h.probeSent(A, US, 'p-us');
    h.probeArrived(A, US, 'p-us');
    h.counted(A, 'accepted');
    expect(h.status(A).state).toBe('healthy');
  });

  it('keeps accounts apart', () => {
    const h = healthyA();
    h.configure([
      { accountId: A, region: EU, queueUrl: queueUrl(A, EU) },
      { accountId: B, region: EU, queueUrl: queueUrl(B, EU) },
    ]);
    expect(h.watching(A)).toBe(true);
    expect(h.watching(B)).toBe(false);
    h.pollFailed(B, EU, 'the queue does not exist');
    expect(h.watching(A)).toBe(true);
    expect(h.status(B).state).toBe('degraded');
  });
});

describe('EventHealth degraded and recovery', () => {
  it('is degraded when a poll fails: says what failed, that deep checks find drift, and what to do', () => {
    const h = healthyA();
    h.pollFailed(A, EU, `the queue ${queueUrl(A, EU)} does not exist (deleted?)`);
    const { state, detail } = h.status(A);
    expect(state).toBe('degraded');
    expect(detail).toContain(`the queue in ${EU} cannot be read (the queue ${queueUrl(A, EU)} does not exist (deleted?))`);
    expect(detail).toContain('Drift is found by deep checks (1 d for every setting, 15 min for public exposure)');
    expect(detail).toContain('heroku-s3-controller events setup');
    expect(h.watching(A)).toBe(false);
    expect(h.report()[0]!.regions[0]!.error).toContain('does not exist');
  });

  it('recovers on the next good poll', () => {
    const h = healthyA();
    h.pollFailed(A, EU, 'the link may not call sqs:ReceiveMessage on arn:aws:sqs:eu-west-1:111122223333:hsc-prod-changes (AccessDenied): add it to the link\'s policy');
    expect(h.watching(A)).toBe(false);
    advance(30_000);
    h.polled(A, EU);
    expect(h.status(A).state).toBe('healthy');
    expect(h.watching(A)).toBe(true);
    expect(h.report()[0]!.regions[0]!.error).toBeNull();
  });

  it('is degraded when a poll fails before the queue was ever read', () => {
    const h = health();
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    h.pollFailed(A, EU, 'boom');
    expect(h.status(A).state).toBe('degraded');
  });

  it('is degraded when a probe is not back within the timeout, and names the probe and the likely cause', () => {
    const h = healthyA([EU], { probeTimeoutMs: 5 * 60_000 });
    h.probeSent(A, EU, 'p-2');
    advance(5 * 60_000);
    h.polled(A, EU);
    expect(h.status(A).state).toBe('healthy'); // exactly at the timeout: not yet lost
    advance(1);
    h.polled(A, EU);
    const { state, detail } = h.status(A);
    expect(state).toBe('degraded');
    expect(detail).toContain(`the probe sent through ${EU} at ${at(0)} has not come back`);
    expect(detail).toMatch(/rule/);
    expect(detail).toMatch(/queue policy/);
    expect(h.watching(A)).toBe(false);
  });

  it('recovers when a lost probe comes back late', () => {
    const h = healthyA([EU], { probeTimeoutMs: 60_000 });
    h.probeSent(A, EU, 'p-2');
    advance(90_000);
    h.polled(A, EU);
    expect(h.status(A).state).toBe('degraded');
    expect(h.probeArrived(A, EU, 'p-2')).toBe(true);
    expect(h.status(A).state).toBe('healthy');
  });

  it('is degraded when a probe of a new path is lost before any came back', () => {
    const h = health({ probeTimeoutMs: 60_000 });
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    h.probeSent(A, EU, 'p-1');
    h.polled(A, EU);
    expect(h.status(A).state).toBe('starting');
    advance(60_001);
    h.polled(A, EU);
    expect(h.status(A).state).toBe('degraded');
  });

  it('does not trust the path again when the probe sent after a lost one is on its way: only its arrival proves it', () => {
    const probeTimeoutMs = 5 * 60_000;
    const h = healthyA([EU], { probeTimeoutMs });
    // Probe 2 is lost: the rule was deleted, events stopped arriving.
    h.probeSent(A, EU, 'p-2');
    advance(probeTimeoutMs + 1);
    h.polled(A, EU);
    expect(h.status(A).state).toBe('degraded');
    // The next probe goes out (the lane sends one per interval); nothing has proven the path since.
    advance(5 * 60_000);
    h.probeSent(A, EU, 'p-3');
    h.polled(A, EU);
    expect(h.status(A).state).not.toBe('healthy');
    expect(h.watching(A)).toBe(false);
    // Its arrival proves the path again.
    h.probeArrived(A, EU, 'p-3');
    expect(h.watching(A)).toBe(true);
  });

  it('is degraded when polls go stale, and says how long ago the queue was read', () => {
    const h = healthyA([EU], { pollStaleMs: 2 * 60_000 });
    advance(2 * 60_000);
    expect(h.status(A).state).toBe('healthy');
    advance(1_000);
    const { state, detail } = h.status(A);
    expect(state).toBe('degraded');
    expect(detail).toContain(`the queue in ${EU} was last read 121 s ago`);
    expect(h.watching(A)).toBe(false);
    h.polled(A, EU);
    expect(h.status(A).state).toBe('healthy');
  });

  it('lists every problem of every region in one sentence', () => {
    const h = healthyA([EU, US], { pollStaleMs: 60_000, probeTimeoutMs: 60_000 });
    h.probeSent(A, US, 'p-us-2');
    advance(61_000);
    h.pollFailed(A, EU, 'AccessDenied');
    const { detail } = h.status(A);
    expect(detail).toContain(`the queue in ${EU} cannot be read (AccessDenied)`);
    expect(detail).toContain(`the queue in ${US} was last read 61 s ago`);
    expect(detail).toContain(`the probe sent through ${US}`);
    expect(detail.split('. ').length).toBe(2);
  });
});

describe('EventHealth probes due', () => {
  it('is due when none was sent and when the last is at least the interval old, never for an unknown queue', () => {
    const h = health();
    expect(h.probeDue(A, EU, 600_000)).toBe(false);
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    expect(h.probeDue(A, EU, 600_000)).toBe(true);
    h.probeSent(A, EU, 'p-1');
    expect(h.probeDue(A, EU, 600_000)).toBe(false);
    advance(599_999);
    expect(h.probeDue(A, EU, 600_000)).toBe(false);
    advance(1);
    expect(h.probeDue(A, EU, 600_000)).toBe(true);
    expect(h.probeDue(A, US, 600_000)).toBe(false);
  });
});

describe('EventHealth configure', () => {
  it('forgets removed regions and accounts, with their counts', () => {
    const h = health();
    h.configure([
      { accountId: A, region: EU, queueUrl: queueUrl(A, EU) },
      { accountId: A, region: US, queueUrl: queueUrl(A, US) },
      { accountId: B, region: EU, queueUrl: queueUrl(B, EU) },
    ]);
    h.counted(B, 'accepted');
    h.configure([{ accountId: A, region: US, queueUrl: queueUrl(A, US) }]);
    expect(h.report([]).map((r) => [r.accountId, r.regions.map((g) => g.region)])).toEqual([[A, [US]]]);
    expect(h.status(B).state).toBe('not-configured');
    h.setLinkedAccounts([A, B]);
    expect(h.report().find((r) => r.accountId === B)).toEqual({ accountId: B, state: 'not-configured', detail: notConfiguredDetail(WINDOWS), received: {}, lastEventAt: null, regions: [] });
  });

  it('keeps a region whose queue URL is the same as it was', () => {
    const h = healthyA([EU]);
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    expect(h.status(A).state).toBe('healthy');
    expect(h.report()[0]!.regions[0]!.lastProbe).not.toBeNull();
  });

  it('starts a region again when its queue URL changed: unproven, never polled, no probe', () => {
    const h = healthyA([EU]);
    h.counted(A, 'accepted');
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU, 'hsc-prod-changes-2') }]);
    expect(h.status(A).state).toBe('starting');
    expect(h.watching(A)).toBe(false);
    expect(h.probeDue(A, EU, 600_000)).toBe(true);
    const [report] = h.report();
    expect(report!.regions).toEqual([{ region: EU, queueUrl: queueUrl(A, EU, 'hsc-prod-changes-2'), lastPollAt: null, error: null, lastProbe: null }]);
    expect(report!.received).toEqual({ 'own-change': 1, accepted: 1 }); // the account's counts stay
  });

  it('drops everything when no queue is set up any more', () => {
    const h = healthyA([EU, US]);
    h.configure([]);
    expect(h.report([])).toEqual([]);
    expect(h.status(A).state).toBe('not-configured');
  });

  it('ignores polls, failures and probes of a queue not set up', () => {
    const h = health();
    h.polled(A, EU);
    h.pollFailed(A, EU, 'x');
    h.probeSent(A, EU, 'p');
    expect(h.probeArrived(A, EU, 'p')).toBe(false);
    expect(h.report([])).toEqual([]);
  });
});

describe('EventHealth counting', () => {
  it('counts every outcome, sets the time of the last event, and tells onOutcome', () => {
    const onOutcome = vi.fn<(accountId: string, outcome: IntakeOutcome) => void>();
    const h = health({ onOutcome });
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    for (const outcome of INTAKE_OUTCOMES) {
      advance(1_000);
      h.counted(A, outcome);
    }
    h.counted(A, 'accepted');
    const [report] = h.report();
    expect(report!.received).toEqual({ ...Object.fromEntries(INTAKE_OUTCOMES.map((o) => [o, 1])), accepted: 2 });
    expect(report!.lastEventAt).toBe(at(INTAKE_OUTCOMES.length * 1_000));
    expect(onOutcome.mock.calls).toEqual([...INTAKE_OUTCOMES.map((o) => [A, o]), [A, 'accepted']]);
  });

  it('lists the thirteen outcomes the intake can give', () => {
    expect([...INTAKE_OUTCOMES].sort()).toEqual(
      ['accepted', 'duplicate', 'failed-call', 'foreign-account', 'malformed', 'next-pass', 'not-ours', 'own-change', 'oversized', 'probe', 'refused', 'unknown-probe', 'unwatched'].sort(),
    );
  });

  it('counts for an account without a queue, which stays not configured', () => {
    const h = health();
    h.counted(C, 'malformed');
    expect(h.status(C).state).toBe('not-configured');
    expect(h.report([C])[0]!.received).toEqual({ malformed: 1 });
  });

  it('returns a copy of the counts', () => {
    const h = health();
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    h.counted(A, 'accepted');
    const received = h.report()[0]!.received;
    received.accepted = 99;
    expect(h.report()[0]!.received.accepted).toBe(1);
  });
});

describe('EventHealth report', () => {
  it('has linked and set-up accounts, sorted, with ISO times and the probe round trip; it survives JSON', () => {
    const h = health({ probeTimeoutMs: 60_000 });
    h.setLinkedAccounts([C, A]);
    h.configure([
      { accountId: B, region: US, queueUrl: queueUrl(B, US) },
      { accountId: A, region: EU, queueUrl: queueUrl(A, EU) },
    ]);
    h.probeSent(A, EU, 'p-1');
    advance(1_500);
    h.polled(A, EU);
    h.probeArrived(A, EU, 'p-1');
    h.counted(A, 'probe');
    h.counted(A, 'own-change');
    h.pollFailed(B, US, 'the queue does not exist (deleted?)');

    const report = h.report();
    expect(report.map((r) => [r.accountId, r.state])).toEqual([
      [A, 'healthy'],
      [B, 'degraded'],
      [C, 'not-configured'],
    ]);
    expect(report[0]).toEqual({
      accountId: A,
      state: 'healthy',
      detail: expect.any(String),
      received: { probe: 1, 'own-change': 1 },
      lastEventAt: at(1_500),
      regions: [{ region: EU, queueUrl: queueUrl(A, EU), lastPollAt: at(1_500), error: null, lastProbe: { sentAt: at(0), arrivedAt: at(1_500), roundTripMs: 1_500 } }],
    });
    expect(report[1]!.regions).toEqual([{ region: US, queueUrl: queueUrl(B, US), lastPollAt: null, error: 'the queue does not exist (deleted?)', lastProbe: null }]);
    for (const time of [report[0]!.lastEventAt, report[0]!.regions[0]!.lastPollAt]) expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(JSON.stringify(report)).not.toMatch(/secret|password|token|ASIA|AKIA/i);
  });

  it('shows a probe in flight with no arrival and no round trip', () => {
    const h = health();
    h.configure([{ accountId: A, region: EU, queueUrl: queueUrl(A, EU) }]);
    h.probeSent(A, EU, 'p-1');
    expect(h.report()[0]!.regions[0]!.lastProbe).toEqual({ sentAt: at(0), arrivedAt: null, roundTripMs: null });
  });

  it('reports the accounts asked for, besides those set up', () => {
    const h = health();
    h.setLinkedAccounts([A]);
    expect(h.report([C]).map((r) => r.accountId)).toEqual([C]);
    h.configure([{ accountId: B, region: EU, queueUrl: queueUrl(B, EU) }]);
    expect(h.report([C]).map((r) => r.accountId)).toEqual([B, C]);
  });
});

describe('EventHealth: regions without a queue', () => {
  it('does not watch an account whose resources are in a region its change events are not set up in, and says which', () => {
    let now = new Date('2026-12-05T10:00:00Z');
    const health = new EventHealth({ now: () => now });
    const queue = (region: string) => ({ accountId: '111122223333', region, queueUrl: `https://sqs.${region}.amazonaws.com/111122223333/hsc-changes` });
    health.configure([queue('us-east-1')], new Map([['111122223333', ['eu-west-1', 'us-east-1']]]));
    health.counted('111122223333', 'own-change');
    health.polled('111122223333', 'us-east-1');
    health.probeSent('111122223333', 'us-east-1', 'p1');
    now = new Date(now.getTime() + 1_000);
    expect(health.probeArrived('111122223333', 'us-east-1', 'p1')).toBe(true);
    const status = health.status('111122223333');
    expect(status.state).toBe('degraded');
    expect(status.detail).toMatch(/its resources in eu-west-1 have no change-event rule and queue there/);
    expect(health.watching('111122223333')).toBe(false);
    // Set up there too: watched once that queue is proven as well.
    health.configure([queue('us-east-1'), queue('eu-west-1')], new Map([['111122223333', ['eu-west-1', 'us-east-1']]]));
    health.polled('111122223333', 'eu-west-1');
    health.probeSent('111122223333', 'eu-west-1', 'p2');
    expect(health.probeArrived('111122223333', 'eu-west-1', 'p2')).toBe(true);
    expect(health.status('111122223333').state).toBe('healthy');
  });
});
