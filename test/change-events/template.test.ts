/**
 * The `events setup --print` template: deployed to moto's CloudFormation it makes a path events
 * flow through, which `events setup` then adopts; and cfn-lint finds nothing wrong in it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { PROBE_SOURCE } from '../../src/change-events/catalogue.js';
import { setUpChangeEvents } from '../../src/change-events/setup.js';
import { changeEventsTemplate } from '../../src/change-events/template.js';
import { mutations, raw, sendTestEvents, useStand, world } from './support.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CFN_LINT = path.join(ROOT, '.venv', 'moto', 'bin', 'cfn-lint');

useStand();

describe('events setup --print template', () => {
  it('deploys to CloudFormation (moto), events then flow, and events setup adopts what it made', async () => {
    const { accountId, naming, deps, names, recorder } = world();
    const { cfn, sqs } = await raw(accountId);
    await cfn.send(new CreateStackCommand({ StackName: `${naming.instanceId}-change-events`, TemplateBody: JSON.stringify(changeEventsTemplate(naming)) }));
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: `${naming.instanceId}-change-events` }))).Stacks![0]!;
    expect(stack.StackStatus).toBe('CREATE_COMPLETE');
    const queueUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: names.queue }))).QueueUrl!;
    const { ours, received } = await sendTestEvents(accountId, naming, queueUrl);
    expect(received.map((m) => m.source).sort()).toEqual(['aws.s3', PROBE_SOURCE]);
    expect(received.find((m) => m.source === 'aws.s3')?.detail.requestParameters).toMatchObject({ bucketName: ours });

    recorder.reset();
    const adopted = await setUpChangeEvents(deps, ['us-east-1']);
    // moto's CloudFormation has no AWS::SQS::QueuePolicy (it skips the resource with a warning), so
    // the policy is the one thing setup still writes; on AWS the stack makes it and setup only reads.
    expect(adopted.changes.map((c) => `${c.resource}: ${c.change}`)).toEqual([`SQS queue ${names.queue}: corrected Policy`]);
    expect(mutations(recorder)).toEqual(['sqs:SetQueueAttributes']);
    expect(adopted.recorded).toEqual(['us-east-1']);
    recorder.reset();
    expect((await setUpChangeEvents(deps, ['us-east-1'])).alreadySetUp).toBe(true);
    expect(mutations(recorder)).toEqual([]);
  });

  it('passes cfn-lint', async (context) => {
    if (!existsSync(CFN_LINT)) context.skip(`cfn-lint is not installed at ${CFN_LINT} (scripts/stand/install-moto.sh installs it with moto)`);
    const dir = mkdtempSync(path.join(tmpdir(), 'hsc-cfn-'));
    try {
      const file = path.join(dir, 'change-events.json');
      writeFileSync(file, JSON.stringify(changeEventsTemplate({ instanceId: 'hsc-0123456789', bucketPrefix: 'hs3-', iamUserPrefix: 'hs3-' }), null, 2));
      const result = await new Promise<{ code: number; out: string }>((resolve) =>
        execFile(CFN_LINT, ['--regions', 'us-east-1', 'eu-west-1', '--', file], (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, out: `${stdout}${stderr}` })),
      );
      expect(result.out).toBe('');
      expect(result.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
