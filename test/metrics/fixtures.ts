/** Drift reports for metrics and HTTP tests, built by hand (no controller involved). */
import type { DriftItem, DriftReport } from '../../src/reconciler/drift.js';
import { DriftKind } from '../../src/reasons.js';

export const ACCOUNT_A = '111122223333';
export const ACCOUNT_B = '444455556666';

export function driftItem(overrides: Partial<DriftItem> = {}): DriftItem {
  return {
    kind: DriftKind.PublicAccessBlockChanged,
    status: 'repairable',
    accountId: ACCOUNT_A,
    addonId: '6f1c3b9e-0d1a-4c55-9a7e-2f9d7c1e4b10',
    resource: 'hs3-6f1c3b9e-0d1a-4c55-9a7e-2f9d7c1e4b10-1a2b3c4d',
    field: 'publicAccessBlock.blockPublicPolicy',
    expected: 'true',
    actual: 'false',
    ...overrides,
  };
}

export function driftReport(items: DriftItem[], generatedAt = '2025-01-01T00:00:00.000Z'): DriftReport {
  const addons = new Set(items.map((i) => i.addonId));
  return {
    generatedAt,
    summary: {
      managed: addons.size + 3,
      inSync: 3,
      drifted: addons.size,
      missing: items.filter((i) => i.kind === DriftKind.MissingBucket || i.kind === DriftKind.MissingUser).length,
      orphaned: 0,
      flapping: items.filter((i) => i.status === 'flapping').length,
    },
    items,
  };
}

/** Several kinds over two accounts, one item flapping, one blocked. */
export function mixedReport(): DriftReport {
  return driftReport([
    driftItem(),
    driftItem({ field: 'publicAccessBlock.restrictPublicBuckets' }),
    driftItem({ kind: DriftKind.EncryptionChanged, field: 'encryption.algorithm', expected: 'AES256', actual: null }),
    driftItem({ kind: DriftKind.PolicyChanged, status: 'flapping', field: 'inline policy', expected: '{"Version":"2012-10-17"}', actual: '{}' }),
    driftItem({ kind: DriftKind.MissingKey, accountId: ACCOUNT_B, addonId: 'a2', resource: 'hs3-a2', field: 'access key', expected: 'Active', actual: null }),
    driftItem({ kind: DriftKind.NameTaken, status: 'blocked', accountId: ACCOUNT_B, addonId: 'a3', resource: 'hs3-a3-99887766', field: 'bucket', expected: 'owned by this instance', actual: 'not owned' }),
  ]);
}
