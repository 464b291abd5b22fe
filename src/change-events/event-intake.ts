/**
 * What the controller does with each message of a change-event queue: read it (cloudtrail-event.ts),
 * drop what is not a hint worth acting on (counted, never acted on), and offer the add-on whose
 * bucket or user the call named for a keyed reconcile with a deep check. The add-on is found in the
 * store by the resource's recorded name only: an event can never make the controller act on a
 * resource no record names, and the reconcile reads AWS again before it changes anything. So a
 * forged, replayed, late or lost event changes when drift is found, never what is done about it.
 */
import type { ChangedPart } from './catalogue.js';
import { readQueueEvent } from './cloudtrail-event.js';
import type { EventHealth, IntakeOutcome } from './event-health.js';

/** What an accepted event tells the reconcile it starts. */
export interface ChangeHint {
  eventName: string;
  part: ChangedPart;
  /** When the call was made, as CloudTrail says; null when it does not. */
  changedAt: Date | null;
}

export interface EventIntakeDeps {
  /** The add-on whose record names this bucket or user in this account; null when none does. */
  findAddon(accountId: string, resource: { bucket: string } | { user: string }): Promise<string | null>;
  /** Reconcile this add-on soon, with a deep check; false when refused (not the leader, shutting down). */
  offer(addonId: string, hint: ChangeHint): boolean;
  health: EventHealth;
  instanceId: string;
  /** The identity the controller acts as in the account (STS GetCallerIdentity's ARN), once known. */
  ownActor(accountId: string): string | null;
  /** Event ids remembered to drop duplicates (default 10,000). */
  rememberIds?: number;
}

export class EventIntake {
  private readonly seen = new Map<string, true>();
  private readonly remember: number;

  constructor(private readonly deps: EventIntakeDeps) {
    this.remember = deps.rememberIds ?? 10_000;
  }

  /** One message of `region`'s queue of `accountId`: what became of it, counted in the account's health. */
  async take(body: string, accountId: string, region: string): Promise<IntakeOutcome> {
    const outcome = await this.decide(body, accountId, region);
    this.deps.health.counted(accountId, outcome);
    return outcome;
  }

  private async decide(body: string, accountId: string, region: string): Promise<IntakeOutcome> {
    const event = readQueueEvent(body, accountId);
    if (event.kind === 'rejected') return event.as;
    if (event.kind === 'probe') {
      if (event.instanceId !== this.deps.instanceId) return 'unknown-probe';
      return this.deps.health.probeArrived(accountId, region, event.probeId) ? 'probe' : 'unknown-probe';
    }
    if (!this.firstTime(`${accountId}/${event.eventId}`)) return 'duplicate';
    if (event.failed) return 'failed-call';
    const own = this.deps.ownActor(accountId);
    if (own !== null && event.actor === own) return 'own-change';
    let addonId: string | null;
    try {
      addonId = await this.deps.findAddon(accountId, event.resource);
    } catch (err) {
      // Not decided: when the queue gives it again, it is not a duplicate.
      this.seen.delete(`${accountId}/${event.eventId}`);
      throw err;
    }
    if (addonId === null) return 'not-ours';
    if (event.part === 'tags') return 'next-pass';
    if (!this.deps.offer(addonId, { eventName: event.eventName, part: event.part, changedAt: event.changedAt })) {
      // Left in the queue for the next leader: not seen, as far as duplicates go.
      this.seen.delete(`${accountId}/${event.eventId}`);
      return 'refused';
    }
    return 'accepted';
  }

  /** True the first time an id is seen among the last `rememberIds`. */
  private firstTime(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.set(id, true);
    if (this.seen.size > this.remember) this.seen.delete(this.seen.keys().next().value!);
    return true;
  }
}
