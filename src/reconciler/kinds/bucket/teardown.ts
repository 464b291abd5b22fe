/**
 * The bucket's part of an orphan's teardown, after its user's: policy, contents (bounded per
 * pass), bucket; nothing of a bucket that is not ours (safety invariant 1), and nothing of one
 * kept by its plan or its retain tag (the record stays, marked retained).
 */
import type { ResourceRecord } from '../../../store/types.js';
import { GcReason } from '../../../reasons.js';
import { notOwnedBlock, type Action } from '../../actions.js';
import { observedResource, type ObservedAccount } from '../../model.js';
import { isOwnedBy, isRetained, type NamingPolicy } from '../../spec.js';
import type { KindTeardown } from '../kind.js';

export function bucketTeardown(record: ResourceRecord, account: ObservedAccount, naming: NamingPolicy, retainedByPlan: boolean): KindTeardown {
  const bucket = observedResource(account, 'bucket', record.resourceName);
  if (!bucket || record.resourceName === null) return { actions: [], retained: false };
  if (!isOwnedBy(bucket.tags, naming, record.addonId)) return { actions: [notOwnedBlock(record, record.resourceName, 'bucket')], retained: false };
  if (retainedByPlan || isRetained(bucket.tags)) return { actions: [], retained: true };
  const base = { accountId: record.accountId, addonId: record.addonId, reason: GcReason.GraceExpired };
  const steps: Action[] = (['delete-bucket-policy', 'empty-bucket', 'delete-bucket'] as const).map((kind) => ({ ...base, kind, bucket: record.resourceName!, region: record.region }));
  return { actions: steps, retained: false };
}
