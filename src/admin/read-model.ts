/** Reads what the admin views need from the store, beside what the latest pass left in memory. */
import type { LatestReports } from '../metrics/pass-outcome.js';
import type { Store } from '../store/store.js';
import type { AdminReadModel } from './views.js';

export type AdminStore = Pick<Store, 'links' | 'resources' | 'deliveries' | 'gcBreakers' | 'journal' | 'rotations' | 'transaction'>;

export async function loadReadModel(store: AdminStore, reports: LatestReports, now: Date, keyMaxAgeMs: number): Promise<AdminReadModel> {
  const [links, records, deliveries, breakers, rotations] = await Promise.all([
    store.links.list(),
    store.resources.listAll(),
    store.deliveries.listAll(),
    store.gcBreakers.list(),
    store.rotations.list(),
  ]);
  return { links, records, deliveries, breakers, rotations, report: reports.latest, pass: reports.pass ?? null, now, keyMaxAgeMs };
}
