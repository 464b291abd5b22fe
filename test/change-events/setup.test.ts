/**
 * `events setup` against moto: the queue and rules it makes, that CloudTrail-shaped events reach
 * the queue through them, idempotence (a second run only reads), ownership (a queue of our name
 * that is not ours is refused, nothing made), rollback of what a failed run made, and `events remove`.
 */
import { describe, expect, it } from 'vitest';
import { CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, ListQueueTagsCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { DescribeRuleCommand, EventBridgeClient, ListTagsForResourceCommand, ListTargetsByRuleCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import type { ClientHook } from '../../src/sinks/aws/connect.js';
import { changesEventPattern, PROBE_SOURCE } from '../../src/change-events/catalogue.js';
import { removeChangeEvents, setUpChangeEvents, setupRegions } from '../../src/change-events/setup.js';
import { TAG } from '../../src/reconciler/spec.js';
import { mutations, raw, sendTestEvents, store, useStand, world } from './support.js';

useStand();

/** A client hook that fails every call of `command` with an error of this name, as the SDK would throw it. */
function failOn(command: string, error: { name: string; message: string }): ClientHook {
  return (client) => {
    (client as EventBridgeClient).middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === command) throw Object.assign(new Error(error.message), { name: error.name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
        return next(args);
      },
      { step: 'initialize', name: 'test-fail-on', override: true },
    );
  };
}

describe('events setup', () => {
  it('makes a tagged, encrypted queue with a least-privilege policy and two tagged rules targeting it, in each region, and records them', async () => {
    const { accountId, naming, deps, names } = world();
    const setup = await setUpChangeEvents(deps, ['eu-west-1', 'us-east-1']);
    expect(setup.alreadySetUp).toBe(false);
    expect(setup.regions.map((r) => r.region)).toEqual(['eu-west-1', 'us-east-1']);
    expect(setup.changes.map((c) => `${c.region} ${c.resource}: ${c.change}`)).toEqual([
      `eu-west-1 SQS queue ${names.queue}: created`,
      `eu-west-1 EventBridge rule ${names.changesRule}: created`,
      `eu-west-1 EventBridge rule ${names.probeRule}: created`,
      `us-east-1 SQS queue ${names.queue}: created`,
      `us-east-1 EventBridge rule ${names.changesRule}: created`,
      `us-east-1 EventBridge rule ${names.probeRule}: created`,
    ]);

    for (const region of ['eu-west-1', 'us-east-1']) {
      const { sqs, events } = await raw(accountId, region);
      const queueUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: names.queue }))).QueueUrl!;
      expect((await sqs.send(new ListQueueTagsCommand({ QueueUrl: queueUrl }))).Tags).toEqual({ [TAG.instance]: naming.instanceId });
      const attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }))).Attributes!;
      expect(attributes.MessageRetentionPeriod).toBe('345600');
      expect(attributes.SqsManagedSseEnabled).toBe('true');
      const queueArn = `arn:aws:sqs:${region}:${accountId}:${names.queue}`;
      const ruleArn = (name: string) => `arn:aws:events:${region}:${accountId}:rule/${name}`;
      expect(JSON.parse(attributes.Policy!)).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'OnlyThisControllersRules',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: queueArn,
            Condition: { ArnEquals: { 'aws:SourceArn': [ruleArn(names.changesRule), ruleArn(names.probeRule)] } },
          },
        ],
      });
      for (const name of [names.changesRule, names.probeRule]) {
        const rule = await events.send(new DescribeRuleCommand({ Name: name }));
        expect(rule.State).toBe('ENABLED');
        expect(rule.Arn).toBe(ruleArn(name));
        expect((await events.send(new ListTagsForResourceCommand({ ResourceARN: rule.Arn }))).Tags).toEqual([{ Key: TAG.instance, Value: naming.instanceId }]);
        expect((await events.send(new ListTargetsByRuleCommand({ Rule: name }))).Targets).toEqual([{ Id: 'queue', Arn: queueArn }]);
      }
      expect(JSON.parse((await events.send(new DescribeRuleCommand({ Name: names.changesRule }))).EventPattern!)).toEqual(changesEventPattern(naming));
    }

    const recorded = await store.eventSources.forAccount(accountId);
    expect(recorded.map((r) => [r.region, r.queueArn, r.ruleArns])).toEqual(
      setup.regions.map((r) => [r.region, `arn:aws:sqs:${r.region}:${accountId}:${names.queue}`, [`arn:aws:events:${r.region}:${accountId}:rule/${names.changesRule}`, `arn:aws:events:${r.region}:${accountId}:rule/${names.probeRule}`]]),
    );
  });

  it('delivers CloudTrail events on our buckets and our probe to the queue, and not those on a foreign bucket or of another instance; a second run only reads', async () => {
    const { accountId, naming, deps, recorder } = world();
    const first = await setUpChangeEvents(deps, ['us-east-1']);
    const { ours, received } = await sendTestEvents(accountId, naming, first.regions[0]!.queueUrl);
    expect(received.map((m) => (m.source === PROBE_SOURCE ? `probe ${String(m.detail.probeId)}` : `${m.source} ${String((m.detail.requestParameters as { bucketName: string }).bucketName)}`)).sort()).toEqual([
      `aws.s3 ${ours}`,
      'probe p1',
    ]);

    recorder.reset();
    const second = await setUpChangeEvents(deps, ['us-east-1']);
    expect(second.alreadySetUp).toBe(true);
    expect(second.changes).toEqual([]);
    expect(second.regions).toEqual(first.regions);
    expect(mutations(recorder)).toEqual([]);
    expect(recorder.calls.length).toBe(9);
  });

  it('corrects a changed pattern, policy, retention, state and target, and removes a foreign target, on resources it owns', async () => {
    const { accountId, naming, deps, names, recorder } = world();
    const first = await setUpChangeEvents(deps, ['us-east-1']);
    const { sqs, events } = await raw(accountId);
    const queueUrl = first.regions[0]!.queueUrl;
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'sqs:*', Resource: '*' }] }), MessageRetentionPeriod: '60' } }));
    await events.send(new PutRuleCommand({ Name: names.changesRule, EventPattern: JSON.stringify({ source: ['aws.s3'] }), State: 'DISABLED' }));
    await events.send(new PutTargetsCommand({ Rule: names.probeRule, Targets: [{ Id: 'queue', Arn: `arn:aws:sqs:us-east-1:${accountId}:elsewhere` }, { Id: 'exfil', Arn: `arn:aws:sqs:us-east-1:${accountId}:elsewhere` }] }));

    recorder.reset();
    const fixed = await setUpChangeEvents(deps, ['us-east-1']);
    expect(fixed.changes.map((c) => `${c.resource}: ${c.change}`)).toEqual([
      `SQS queue ${names.queue}: corrected Policy, MessageRetentionPeriod`,
      `EventBridge rule ${names.changesRule}: corrected event pattern, state`,
      `EventBridge rule ${names.probeRule}: corrected its target`,
      `EventBridge rule ${names.probeRule}: removed other targets (exfil)`,
    ]);
    expect(mutations(recorder).sort()).toEqual(['events:PutRule', 'events:PutTargets', 'events:RemoveTargets', 'sqs:SetQueueAttributes']);
    const { received } = await sendTestEvents(accountId, naming, queueUrl);
    expect(received).toHaveLength(2);
    expect((await setUpChangeEvents(deps, ['us-east-1'])).alreadySetUp).toBe(true);
  });

  it('refuses a queue of its name that lacks its tag, in one line, and makes nothing anywhere', async () => {
    const { accountId, deps, names, recorder } = world();
    const { sqs, events } = await raw(accountId, 'us-west-2');
    await sqs.send(new CreateQueueCommand({ QueueName: names.queue, tags: { team: 'data' } }));
    const error = await setUpChangeEvents(deps, ['us-east-1', 'us-west-2']).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('UserError');
    expect((error as Error).message).toBe(
      `the SQS queue ${names.queue} in us-west-2 in AWS account ${accountId} does not carry this controller's tag ${TAG.instance}=${deps.naming.instanceId}, so it is someone else's: nothing was changed; rename or delete it (or tag it, if it was made for this controller), then run events setup again`,
    );
    expect(mutations(recorder)).toEqual([]);
    await expect(events.send(new DescribeRuleCommand({ Name: names.changesRule }))).rejects.toThrow(/does not exist/);
    const east = await raw(accountId, 'us-east-1');
    await expect(east.sqs.send(new GetQueueUrlCommand({ QueueName: names.queue }))).rejects.toThrow();
    expect(await store.eventSources.forAccount(accountId)).toEqual([]);
  });

  it('on AccessDenied at PutTargets, names the permission, deletes the queue and rule it created, and keeps the rule that was there before', async () => {
    const injectDenied = failOn('PutTargetsCommand', { name: 'AccessDeniedException', message: 'injected: not authorized' });
    const { accountId, naming, deps, names } = world({ onClient: injectDenied });
    const { sqs, events } = await raw(accountId);
    // The probe rule was made before (say, by hand from the template), tagged as ours.
    await events.send(new PutRuleCommand({ Name: names.probeRule, EventPattern: JSON.stringify({ source: [PROBE_SOURCE] }), Tags: [{ Key: TAG.instance, Value: naming.instanceId }] }));

    const error = await setUpChangeEvents(deps, ['us-east-1']).catch((e: Error) => e);
    expect((error as Error).name).toBe('UserError');
    expect((error as Error).message).toBe(
      `the link's credentials may not call events:PutTargets on arn:aws:events:us-east-1:${accountId}:rule/${names.changesRule}: add it to the link's policy (README, Change events); ` +
        `what this run had created (SQS queue ${names.queue} in us-east-1, EventBridge rule ${names.changesRule} in us-east-1) was deleted again`,
    );
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: names.queue }))).rejects.toThrow();
    await expect(events.send(new DescribeRuleCommand({ Name: names.changesRule }))).rejects.toThrow(/does not exist/);
    expect((await events.send(new DescribeRuleCommand({ Name: names.probeRule }))).Name).toBe(names.probeRule);
    expect(await store.eventSources.forAccount(accountId)).toEqual([]);
  });

  it('says to wait a minute when AWS still holds the name of a queue deleted moments ago', async () => {
    const { accountId, deps, names } = world({ onClient: failOn('CreateQueueCommand', { name: 'QueueDeletedRecently', message: 'You must wait 60 seconds after deleting a queue before you can create another with the same name.' }) });
    const error = await setUpChangeEvents(deps, ['us-east-1']).catch((e: Error) => e);
    expect((error as Error).message).toBe(
      `the SQS queue arn:aws:sqs:us-east-1:${accountId}:${names.queue} was deleted less than a minute ago and AWS keeps its name for 60 seconds: run events setup again in a minute; this run created nothing, so nothing was left behind`,
    );
  });

  it('removes only what carries its tag, and forgets the records; a dry run changes nothing', async () => {
    const { accountId, deps, names, recorder } = world();
    await setUpChangeEvents(deps, ['us-east-1']);
    const west = await raw(accountId, 'us-west-2');
    await west.sqs.send(new CreateQueueCommand({ QueueName: names.queue, tags: { team: 'data' } }));
    recorder.reset();
    const dry = await removeChangeEvents(deps, ['us-east-1', 'us-west-2'], { dryRun: true });
    expect(dry.resources.map((r) => r.resource)).toEqual([`EventBridge rule ${names.changesRule}`, `EventBridge rule ${names.probeRule}`, `SQS queue ${names.queue}`]);
    expect(mutations(recorder)).toEqual([]);
    expect(await store.eventSources.forAccount(accountId)).toHaveLength(1);
    await removeChangeEvents(deps, ['us-east-1', 'us-west-2'], { dryRun: false });
    // Someone else's queue of the same name, in another region, is left alone.
    expect((await west.sqs.send(new GetQueueUrlCommand({ QueueName: names.queue }))).QueueUrl).toBeTruthy();
    const { sqs, events } = await raw(accountId);
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: names.queue }))).rejects.toThrow();
    await expect(events.send(new DescribeRuleCommand({ Name: names.probeRule }))).rejects.toThrow(/does not exist/);
    expect(await store.eventSources.forAccount(accountId)).toEqual([]);
  });

  it('takes its regions from IAM (us-east-1), the link and the account\'s add-ons', () => {
    const records = [
      { accountId: '111122223333', region: 'eu-west-1' },
      { accountId: '111122223333', region: 'us-east-1' },
      { accountId: '999988887777', region: 'ap-south-1' },
    ];
    expect(setupRegions({ accountId: '111122223333', region: null }, 'us-west-2', records)).toEqual(['eu-west-1', 'us-east-1', 'us-west-2']);
    expect(setupRegions({ accountId: '111122223333', region: 'eu-central-1' }, 'us-west-2', [])).toEqual(['eu-central-1', 'us-east-1']);
  });
});

