/**
 * The steps of a history, as plain data: what a real team, someone with access to the AWS
 * account, or a fault does between two passes of the controller. Steps name add-ons, apps and
 * teams by label, so a history prints as a readable script and replays anywhere; a step whose
 * subject does not exist (yet, or any more) does nothing, so a shrunk history stays valid.
 */
import fc from 'fast-check';

/** The teams of the world: three linked at the start (acme and initech share account A), one not. */
export const TEAMS = { acme: 'A', globex: 'B', initech: 'A', umbrella: 'B' } as const;
export type TeamName = keyof typeof TEAMS;
export const LINKED_AT_START: readonly TeamName[] = ['acme', 'globex', 'initech'];

/** The apps, and the team each starts in. */
export const APPS = { 'web-1': 'acme', 'web-2': 'acme', 'api-1': 'globex', 'ops-1': 'initech', 'far-1': 'umbrella' } as const;
export type AppName = keyof typeof APPS;

export const ADDONS = ['a1', 'a2', 'a3', 'a4', 'a5'] as const;
export type AddonLabel = (typeof ADDONS)[number];

/** Attachment names: few, so one freed by a destroy or detach is soon taken by another add-on. */
export const ATTACHMENT_NAMES = ['BUCKET', 'ASSETS', 'UPLOADS'] as const;
export type AttachmentName = (typeof ATTACHMENT_NAMES)[number];

/**
 * Plans; `archive` keeps its bucket (PLAN_PROFILES), `read-only` and `versioned` change settings,
 * `role` is the credentials kind (a user and key, no bucket): a plan change to or from it is a
 * kind change, which the controller refuses without touching anything.
 */
export const PLANS = ['standard', 'archive', 'versioned', 'read-only', 'role'] as const;
export type PlanName = (typeof PLANS)[number];
export const RETAINING_PLANS: ReadonlySet<string> = new Set(['archive']);

/**
 * How far `age-keys` moves the clock (KEY_MAX_AGE is its default, 90 days; a key comes due between
 * 80% and 90% of it, at a point its add-on's id decides): 76 days makes about half the keys due,
 * 85 all of them, 91 all of them and past KEY_MAX_AGE.
 */
export const KEY_AGE_DAYS = [76, 85, 91] as const;
export type KeyAgeDays = (typeof KEY_AGE_DAYS)[number];

export type BucketDrift = 'public-access-block-off' | 'encryption-off' | 'tls-policy-off' | 'ownership-off' | 'lifecycle-off' | 'versioning-on' | 'cors-added';

export type Step =
  // Heroku
  | { t: 'create'; addon: AddonLabel; app: AppName; plan: PlanName; as: AttachmentName }
  | { t: 'destroy'; addon: AddonLabel }
  | { t: 'deprovision'; addon: AddonLabel }
  | { t: 'partner-deprovision'; addon: AddonLabel }
  | { t: 'attach'; addon: AddonLabel; app: AppName; as: AttachmentName }
  | { t: 'detach'; addon: AddonLabel; app: AppName }
  | { t: 'rename'; addon: AddonLabel; app: AppName; as: AttachmentName }
  | { t: 'plan'; addon: AddonLabel; plan: PlanName }
  | { t: 'move'; app: AppName; team: TeamName }
  | { t: 'unlink'; team: TeamName }
  | { t: 'link'; team: TeamName }
  | { t: 'webhook'; addon: AddonLabel }
  /** AWS's record of a call on the add-on's bucket or user reached the controller (issue 17). */
  | { t: 'change-event'; addon: AddonLabel }
  // an operator, and time
  | { t: 'rotate'; addon: AddonLabel; compromised: boolean }
  | { t: 'age-keys'; days: KeyAgeDays }
  // someone else, in AWS or on an app
  | { t: 'bucket-drift'; addon: AddonLabel; what: BucketDrift }
  | { t: 'user-drift'; addon: AddonLabel; what: 'policy-loosened' | 'extra-policy' }
  /** `newest`: the key made last (during a rotation, the new one); else the oldest. */
  | { t: 'key'; addon: AddonLabel; what: 'delete' | 'deactivate' | 'add'; newest?: boolean }
  | { t: 'tags'; addon: AddonLabel; on: 'bucket' | 'user'; what: 'strip' | 'alter' | 'add-foreign' | 'retain' }
  | { t: 'var'; app: AppName; what: 'delete-ours' | 'set-foreign' }
  | { t: 'lookalike'; what: 'bucket-untagged' | 'bucket-other-instance' | 'user-other-instance' | 'user-outside-path' }
  | { t: 'squat'; addon: AddonLabel; what: 'bucket-untagged' | 'bucket-other-instance' | 'user-outside-path' | 'user-other-instance' | 'user-partial-tags' }
  // faults
  | { t: 'fail-team'; team: TeamName; status: 429 | 503 }
  | { t: 'fail-attachments' }
  | { t: 'lag-tags'; on: boolean }
  | { t: 'crash'; after: number }
  | { t: 'wipe-store' }
  | { t: 'snapshot-store' }
  | { t: 'restore-store' }
  | { t: 'cli-beside-serve' }
  | { t: 'second-deployment' }
  | { t: 'time'; minutes: number };

/** A history: the steps, and the deep-check window the controller runs with. */
export interface History {
  /** DEEP_CHECK_WINDOW: 0 (every resource read in full every pass) or a window passes fall in. */
  deepCheckMinutes: 0 | 20;
  steps: Step[];
}

const addon = fc.constantFrom(...ADDONS);
const app = fc.constantFrom(...(Object.keys(APPS) as AppName[]));
const team = fc.constantFrom(...(Object.keys(TEAMS) as TeamName[]));
const as = fc.constantFrom(...ATTACHMENT_NAMES);
const plan = fc.constantFrom(...PLANS);

/** Heroku changes, weighted toward what review apps do all day: come and go, attach, change plan. */
const heroku: fc.WeightedArbitrary<Step>[] = [
  { weight: 5, arbitrary: fc.record({ t: fc.constant('destroy' as const), addon }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('deprovision' as const), addon }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('partner-deprovision' as const), addon }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('attach' as const), addon, app, as }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('detach' as const), addon, app }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('rename' as const), addon, app, as }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('plan' as const), addon, plan }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('move' as const), app, team }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('unlink' as const), team }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('link' as const), team }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('webhook' as const), addon }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('change-event' as const), addon }) },
];

const aws: fc.Arbitrary<Step>[] = [
  fc.record({
    t: fc.constant('bucket-drift' as const),
    addon,
    what: fc.constantFrom<BucketDrift>('public-access-block-off', 'encryption-off', 'tls-policy-off', 'ownership-off', 'lifecycle-off', 'versioning-on', 'cors-added'),
  }),
  fc.record({ t: fc.constant('user-drift' as const), addon, what: fc.constantFrom('policy-loosened' as const, 'extra-policy' as const) }),
  fc.record({ t: fc.constant('key' as const), addon, what: fc.constantFrom('delete' as const, 'deactivate' as const, 'add' as const), newest: fc.boolean() }),
  fc.record({ t: fc.constant('tags' as const), addon, on: fc.constantFrom('bucket' as const, 'user' as const), what: fc.constantFrom('strip' as const, 'alter' as const, 'add-foreign' as const, 'retain' as const) }),
  fc.record({ t: fc.constant('var' as const), app, what: fc.constantFrom('delete-ours' as const, 'set-foreign' as const) }),
  fc.record({ t: fc.constant('lookalike' as const), what: fc.constantFrom('bucket-untagged' as const, 'bucket-other-instance' as const, 'user-other-instance' as const, 'user-outside-path' as const) }),
  fc.record({
    t: fc.constant('squat' as const),
    addon,
    what: fc.constantFrom('bucket-untagged' as const, 'bucket-other-instance' as const, 'user-outside-path' as const, 'user-other-instance' as const, 'user-partial-tags' as const),
  }),
];

/**
 * Key rotation (issue 16): an operator's request, and keys coming of age. Neither runs a pass of
 * its own: the pass that starts the rotation is the next step's (a destroy, a rename, a restore).
 */
const rotate = fc.record({ t: fc.constant('rotate' as const), addon, compromised: fc.boolean() });
const ageKeys = fc.record({ t: fc.constant('age-keys' as const), days: fc.constantFrom(...KEY_AGE_DAYS) });
const rotation: fc.WeightedArbitrary<Step>[] = [
  { weight: 3, arbitrary: rotate },
  { weight: 1, arbitrary: ageKeys },
];

/**
 * A rotation with the process killed inside it: a rotation asked for (or keys aged), the passes
 * that bring it to the call wanted, then a crash after one of the first mutations of that pass.
 * Timed for the harness's world (a pass a minute, `time N` adding N before its pass, overlap 3m,
 * grace 5m): in the pass that makes and delivers the new key (an emergency's also deactivates the
 * old one), in the one that deactivates the old key, or in the one that deletes it. A crash step
 * drawn alone seldom lands there: a pass with nothing to do makes no call to die after.
 */
const crashInRotation: fc.Arbitrary<Step[]> = fc
  .record({
    start: fc.oneof({ weight: 3, arbitrary: rotate }, { weight: 1, arbitrary: ageKeys }),
    at: fc.constantFrom('creation' as const, 'deactivation' as const, 'deletion' as const),
    // The pass that makes the key makes a call per attachment after it; the later ones make one.
    after: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ start, at, after }) => {
    const emergency = start.t === 'rotate' && start.compromised;
    // The passes before the one that dies (`time N`: N minutes, then its pass's one).
    const before = { creation: [], deactivation: emergency ? [] : [time(0), time(1)], deletion: emergency ? [time(0), time(3)] : [time(0), time(2), time(3)] }[at];
    return [start, ...before, { t: 'crash' as const, after: before.length === 0 ? after : 1 }];
  });

/**
 * A rotation whose keys someone else deletes or deactivates (the old one or the new one) right
 * after the pass that delivered the new key: the controller must give the apps a working key again.
 */
const keyDamagedInRotation: fc.Arbitrary<Step[]> = fc
  .record({
    start: fc.oneof({ weight: 3, arbitrary: rotate }, { weight: 1, arbitrary: ageKeys }),
    damage: fc.record({ t: fc.constant('key' as const), addon, what: fc.constantFrom('delete' as const, 'deactivate' as const), newest: fc.boolean() }),
  })
  .map(({ start, damage }) => [start, time(0), start.t === 'rotate' ? { ...damage, addon: start.addon } : damage]);

function time(minutes: number): Step {
  return { t: 'time', minutes };
}

const faults: fc.Arbitrary<Step>[] = [
  fc.record({ t: fc.constant('fail-team' as const), team, status: fc.constantFrom(429 as const, 503 as const) }),
  fc.record({ t: fc.constant('fail-attachments' as const) }),
  fc.record({ t: fc.constant('lag-tags' as const), on: fc.boolean() }),
  fc.record({ t: fc.constant('crash' as const), after: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ t: fc.constant('wipe-store' as const) }),
  fc.record({ t: fc.constant('snapshot-store' as const) }),
  fc.record({ t: fc.constant('restore-store' as const) }),
  fc.record({ t: fc.constant('cli-beside-serve' as const) }),
  fc.record({ t: fc.constant('second-deployment' as const) }),
  fc.record({ t: fc.constant('time' as const), minutes: fc.constantFrom(3, 10, 60) }),
];

/**
 * A step: add-on lifecycle steps most often (a history needs add-ons before anything else
 * matters), then other Heroku changes, AWS changes by someone else, faults, and key rotation.
 */
export const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('create' as const), addon, app, plan, as }), weight: 6 },
  { arbitrary: fc.oneof(...heroku), weight: 9 },
  { arbitrary: fc.oneof(...aws), weight: 5 },
  { arbitrary: fc.oneof(...faults), weight: 4 },
  { arbitrary: fc.oneof(...rotation), weight: 2 },
);

/**
 * A history of up to `maxSteps` items: a step, or (about one item in six) a rotation with a crash
 * or someone else's key change inside it, a few steps long.
 */
export function historyArbitrary(maxSteps: number): fc.Arbitrary<History> {
  const item = fc.oneof(
    { weight: 14, arbitrary: stepArbitrary.map((step) => [step]) },
    { weight: 2, arbitrary: crashInRotation },
    { weight: 1, arbitrary: keyDamagedInRotation },
  );
  return fc.record({
    deepCheckMinutes: fc.constantFrom(0 as const, 20 as const),
    // Lengths spread up to the maximum (fast-check's default size keeps arrays short).
    steps: fc.array(item, { minLength: Math.min(4, maxSteps), maxLength: maxSteps, size: 'max' }).map((items) => items.flat()),
  });
}

/** One step as a line of a script. */
export function describeStep(step: Step): string {
  switch (step.t) {
    case 'create':
      return `create add-on ${step.addon} (plan ${step.plan}) on app ${step.app}, attached as ${step.as}`;
    case 'destroy':
      return `destroy add-on ${step.addon}`;
    case 'deprovision':
      return `Heroku lists add-on ${step.addon} as deprovisioned`;
    case 'partner-deprovision':
      return `add-on ${step.addon} is destroyed, and Heroku tells its provider (DELETE /heroku/resources/${step.addon})`;
    case 'attach':
      return `attach add-on ${step.addon} to app ${step.app} as ${step.as}`;
    case 'detach':
      return `detach add-on ${step.addon} from app ${step.app}`;
    case 'rename':
      return `rename the attachment of add-on ${step.addon} on app ${step.app} to ${step.as}`;
    case 'plan':
      return `change the plan of add-on ${step.addon} to ${step.plan}`;
    case 'move':
      return `move app ${step.app} to team ${step.team}`;
    case 'unlink':
      return `unlink team ${step.team}`;
    case 'link':
      return `link team ${step.team} (to account ${TEAMS[step.team]})`;
    case 'webhook':
      return `a webhook names add-on ${step.addon}: keyed reconcile`;
    case 'change-event':
      return `an AWS change event names the resources of add-on ${step.addon}: keyed reconcile with a deep check`;
    case 'rotate':
      return `an operator asks for ${step.compromised ? 'an emergency rotation (compromised key)' : 'a rotation'} of the key of add-on ${step.addon} (no pass of its own)`;
    case 'age-keys':
      return `${step.days} days pass: keys come due for rotation by age (no pass of its own)`;
    case 'bucket-drift':
      return `someone changes the bucket of ${step.addon}: ${step.what}`;
    case 'user-drift':
      return `someone changes the IAM user of ${step.addon}: ${step.what}`;
    case 'key':
      return `someone ${step.what === 'add' ? 'adds an access key to' : `${step.what}s the ${step.newest ? 'newest' : 'oldest'} access key of`} the user of ${step.addon}`;
    case 'tags':
      return `someone ${step.what === 'strip' ? 'strips the ownership tags of' : step.what === 'alter' ? 'alters the app-id tag of' : step.what === 'retain' ? 'tags retain=true on' : 'adds a foreign tag to'} the ${step.on} of ${step.addon}`;
    case 'var':
      return step.what === 'delete-ours' ? `someone deletes one of our config vars on app ${step.app}` : `someone sets a config var of their own on app ${step.app}`;
    case 'lookalike':
      return `someone makes a look-alike: ${step.what}`;
    case 'squat':
      return `someone takes the deterministic name of ${step.addon} first: ${step.what}`;
    case 'fail-team':
      return `the add-on listing of team ${step.team} answers ${step.status} this step`;
    case 'fail-attachments':
      return 'the attachment listing answers 503 this step';
    case 'lag-tags':
      return step.on ? 'the tagging API starts lagging' : 'the tagging API catches up';
    case 'crash':
      return `the process dies after its ${step.after}th AWS or Heroku mutation of the next pass`;
    case 'wipe-store':
      return 'the store is lost; an operator links the teams again';
    case 'snapshot-store':
      return 'a backup of the store is taken';
    case 'restore-store':
      return 'the store is restored from the last backup';
    case 'cli-beside-serve':
      return 'an operator runs `reconcile --once` beside the running `serve`';
    case 'second-deployment':
      return 'a second deployment (own store, default INSTANCE_ID) is linked to the same teams';
    case 'time':
      return `${step.minutes} minutes pass`;
  }
}

/** A whole history as a script, one numbered line per step. */
export function describeHistory(history: History): string {
  return [`DEEP_CHECK_WINDOW=${history.deepCheckMinutes}m`, ...history.steps.map((s, i) => `${String(i + 1).padStart(3)}. ${describeStep(s)}`)].join('\n');
}
