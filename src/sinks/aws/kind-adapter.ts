/**
 * What a kind's AWS adapter gives the account adapter ({@link AwsCloud}): the observation of the
 * kind's own resources (the core observes the users) and a handle to write one through. Wired
 * with the kind in runtime.ts, so a kind with a new AWS resource type brings its adapter and
 * touches neither the account adapter nor the reconciler's ports.
 */
import type { ExpectedResource, ObserveOptions, ObservedResource, ResourceHandle, UnknownResource } from '../../reconciler/ports.js';
import type { Sleep } from './aws-errors.js';
import type { AccountClients } from './connect.js';

export interface KindObservation {
  /** The expected resources that exist, by name (one deleted since it was listed is missing). */
  found: Map<string, ObservedResource>;
  /** Resources with this instance's tag that nothing expected names (found again after a store loss). */
  unknown: Map<string, UnknownResource>;
  /** What could not be told without making the read incomplete. */
  warnings: string[];
}

export interface AwsKindAdapter {
  /** The bulk read of a full pass, never mutating: `expected` are this kind's resources in the account. A throw makes the account's read incomplete. */
  observe(clients: AccountClients, expected: ExpectedResource[], options: ObserveOptions): Promise<KindObservation>;
  /** One resource alone (a keyed reconcile); null when it does not exist. */
  observeOne(clients: AccountClients, expected: ExpectedResource, options: Pick<ObserveOptions, 'listRegion'>): Promise<ObservedResource | null>;
  /** A handle to write one resource through (the kind's handlers know its full shape). */
  handle(clients: AccountClients, name: string, region: string, sleep: Sleep | undefined): ResourceHandle;
}
