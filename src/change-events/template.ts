/**
 * `events setup --print`: the same queue, queue policy and rules as `events setup` makes, as a
 * CloudFormation template (JSON) for an account admin to review and apply by hand, one stack per
 * region (the names carry no region: AWS::Region and AWS::AccountId place them). `events setup`
 * run afterwards finds them tagged as ours and right, and only records them.
 */
import { eventResourceNames, type EventNaming } from './catalogue.js';
import { instanceTag, QUEUE_RETENTION_SECONDS, QUEUE_TARGET_ID, queuePolicyDocument, ruleSpecs, type RuleRole } from './resources.js';

const LOGICAL_ID: Record<RuleRole, string> = { changes: 'ChangesRule', probe: 'ProbeRule' };

export function changeEventsTemplate(naming: EventNaming): Record<string, unknown> {
  const tags = [instanceTag(naming.instanceId)];
  const queueArn = { 'Fn::GetAtt': ['Queue', 'Arn'] };
  const specs = ruleSpecs(naming);
  const rules = Object.fromEntries(
    specs.map((spec) => [
      LOGICAL_ID[spec.role],
      {
        Type: 'AWS::Events::Rule',
        Properties: {
          Name: spec.name,
          Description: spec.description,
          EventBusName: 'default',
          EventPattern: JSON.parse(spec.eventPattern),
          State: 'ENABLED',
          Targets: [{ Id: QUEUE_TARGET_ID, Arn: queueArn }],
          Tags: tags,
        },
      },
    ]),
  );
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `heroku-s3-controller ${naming.instanceId}: change events (CloudTrail, through EventBridge) to an SQS queue the controller reads. One stack per region; then run \`heroku-s3-controller events setup --team TEAM\` to record it.`,
    Resources: {
      Queue: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          QueueName: eventResourceNames(naming.instanceId).queue,
          MessageRetentionPeriod: QUEUE_RETENTION_SECONDS,
          SqsManagedSseEnabled: true,
          Tags: tags,
        },
      },
      QueuePolicy: {
        Type: 'AWS::SQS::QueuePolicy',
        Properties: {
          Queues: [{ Ref: 'Queue' }],
          PolicyDocument: queuePolicyDocument(
            queueArn,
            specs.map((spec) => ({ 'Fn::GetAtt': [LOGICAL_ID[spec.role], 'Arn'] })),
          ),
        },
      },
      ...rules,
    },
    Outputs: {
      QueueUrl: { Value: { Ref: 'Queue' } },
      QueueArn: { Value: queueArn },
      ...Object.fromEntries(specs.map((spec) => [`${LOGICAL_ID[spec.role]}Arn`, { Value: { 'Fn::GetAtt': [LOGICAL_ID[spec.role], 'Arn'] } }])),
    },
  };
}
