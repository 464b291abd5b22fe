/**
 * The credentials kind: an IAM user and key per add-on and no bucket, "like EC2 instance roles
 * for Heroku apps". The user's policy is the plan's template filled in for the add-on; its apps
 * get the key and the region, nothing about a bucket. Drift, garbage collection, the breaker,
 * deep checks and reports are the core's, as for every kind.
 */
import { TAG, configVarNames } from '../../spec.js';
import type { ResourceKind } from '../kind.js';
import { renderPolicy, templateProblems } from './policy-template.js';

export const credentialsKind: ResourceKind = {
  name: 'credentials',
  resourceName: () => null,
  userTags: { [TAG.kind]: 'credentials' },
  // Nothing of its own beside the user: the core plans, applies and tears that down.
  planResources: () => [],
  teardown: () => ({ actions: [], retained: false }),
  handlers: {},
  userPolicy: (ctx) => renderPolicy(ctx.profile.policy ?? '', ctx),
  configVars: (attachmentName, credentials) => {
    const names = configVarNames(attachmentName);
    return {
      [names.accessKeyId]: credentials.accessKeyId,
      [names.secretAccessKey]: credentials.secretAccessKey,
      [names.region]: credentials.region,
    };
  },
  profileProblems: (plan, profile) => templateProblems(plan, profile.policy),
};
