/** The bucket kind: a bucket per add-on, its user granted that bucket alone. */
import type { ResourceKind } from '../kind.js';
import { bucketHandlers, keepBucket } from './apply.js';
import { planBucket } from './plan-bucket.js';
import { bucketTeardown } from './teardown.js';
import { observedResource, type ObservedBucket } from '../../model.js';
import { DriftKind } from '../../../reasons.js';
import { BUCKET_NAME_SUFFIX, bucketNameFor, configVarsFor, userPolicyDocument, type Credentials } from '../../spec.js';

export const bucketKind: ResourceKind = {
  name: 'bucket',
  resourceName: bucketNameFor,
  userTags: {},
  planResources: (ctx, account, bucket, region) => planBucket(ctx, bucket!, region, observedResource(account, 'bucket', bucket) as ObservedBucket | undefined),
  teardown: bucketTeardown,
  handlers: bucketHandlers,
  orphanedAs: DriftKind.OrphanedBucket,
  resourceVarSuffix: BUCKET_NAME_SUFFIX,
  keep: keepBucket,
  userPolicy: ({ resource, profile }) => userPolicyDocument(resource!, profile.access),
  // A bucket add-on's credentials always name its bucket.
  configVars: (attachmentName, credentials) => configVarsFor({ name: attachmentName }, credentials as Credentials & { resourceName: string }),
  profileProblems: (plan, profile) => (profile.policy !== null ? [`plan ${plan} is a bucket: its user's policy grants its bucket, so "policy" is not used; remove it or set "kind": "credentials"`] : []),
};

/** The kinds every controller has; others are added where the controller is wired (runtime.ts). */
export const BUILT_IN_KINDS = new Map([[bucketKind.name, bucketKind]] as const);
