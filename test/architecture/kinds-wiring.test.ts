/**
 * Every kind the controller is built with that makes a resource beyond the user has an AWS
 * adapter wired beside it: without one, its resources could be neither observed nor written.
 */
import { describe, expect, it } from 'vitest';
import { KINDS, KIND_ADAPTERS } from '../../src/runtime.js';

const NAMING = { instanceId: 'probe', bucketPrefix: 'probe-', iamPath: '/probe/', iamUserPrefix: 'probe-' };

describe('the kinds runtime.ts wires', () => {
  it('have an adapter for each kind that makes a resource, and none for a kind that makes none', () => {
    const withResource = [...KINDS.values()].filter((kind) => kind.resourceName(NAMING, '111122223333', 'addon') !== null).map((kind) => kind.name);
    expect(withResource).toEqual(['bucket']);
    expect([...KIND_ADAPTERS.keys()].sort()).toEqual(withResource.sort());
  });
});
