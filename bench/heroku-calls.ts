/**
 * Heroku calls per pass for T linked teams and A apps (T = 10, 50; A = 500, 5,000), each app with
 * one add-on of the service, against the Heroku fake (which pages at most 1,000 items, as Heroku
 * does). Goal: the count grows with the teams and the pages, not with the apps.
 *
 * The pass is a full `plan` pass (dry run) of a fleet not yet created, so it is the desired-state
 * read alone: one team-wide add-on listing and one app listing per team, and the attachment
 * listing once (every page counted). The per-pass config-var reads of the add-ons whose deep
 * check is due (about N/60 a pass with the default 1 h window) are counted by the steady-state
 * benchmark ("heroku req/pass").
 *
 * Run: `npx tsx bench/heroku-calls.ts`.
 */
import { startPostgres } from './support/postgres.js';
import { startMoto } from './support/moto.js';
import { machine, table, writeResult } from './support/report.js';
import { BenchWorld } from './support/world.js';

const TEAMS = [10, 50];
const APPS = [500, 5000];
const PAGE = 1000;

async function main() {
  const benchStarted = Date.now();
  const [moto, postgres] = await Promise.all([startMoto(), startPostgres()]);
  const rows: Record<string, string | number>[] = [];
  const results: Record<string, unknown>[] = [];
  try {
    for (const teams of TEAMS) {
      // One world per team count; its apps grow from 500 to 5,000 between the measured passes.
      const world = await BenchWorld.create({ databaseUrl: await postgres.createDatabase(), endpoint: moto.url, teams });
      try {
        let present = 0;
        for (const apps of APPS) {
          world.addAddons(apps - present);
          present = apps;
          world.fake.resetRequests();
          const pass = await world.runtime.controller.reconcileOnce({ dryRun: true });
          const requests = world.fake.requests.map((r) => `${r.method} ${r.path.split('?')[0]!.replace(/\/teams\/[^/]+/, '/teams/{team}')}`);
          const byPath: Record<string, number> = {};
          for (const r of requests) byPath[r] = (byPath[r] ?? 0) + 1;
          const addons = pass.teams.reduce((sum, t) => sum + t.addons.length, 0);
          if (addons !== apps || pass.teams.some((t) => !t.complete)) throw new Error(`bench: read ${addons} add-ons of ${apps}`);
          const perTeam = Math.ceil(apps / teams);
          const expected = Math.ceil(apps / PAGE) + teams * 2 * Math.ceil(perTeam / PAGE);
          rows.push({
            teams,
            apps,
            'heroku requests/pass': requests.length,
            'pages: attachments + T x (add-ons + apps)': `${Math.ceil(apps / PAGE)} + ${teams} x ${2 * Math.ceil(perTeam / PAGE)} = ${expected}`,
            'per app': Math.round((requests.length / apps) * 1000) / 1000,
            'grows with apps?': requests.length === expected ? 'no (pages only)' : 'CHECK',
          });
          results.push({ teams, apps, requests: requests.length, byPath, expectedPages: expected });
          console.log(`T=${teams} A=${apps}: ${requests.length} requests (${Object.entries(byPath).map(([k, v]) => `${k} ${v}`).join(', ')})`);
        }
      } finally {
        await world.close();
      }
    }
  } finally {
    await moto.stop();
    await postgres.stop();
  }
  table('Heroku requests per pass (desired state: add-ons, apps, attachments)', rows);
  const file = writeResult('heroku-calls', { cases: results, pageSize: PAGE, seconds: (Date.now() - benchStarted) / 1000 });
  console.log(`\nwritten ${file}; ${((Date.now() - benchStarted) / 1000).toFixed(0)} s; machine ${JSON.stringify(machine())}`);
}

await main();
