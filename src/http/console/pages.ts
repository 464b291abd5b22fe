/**
 * The console's pages, rendered on the server from the same views the admin API answers with:
 * Teams → Team → Links → GC → Journal, plus sign-in. Plain HTML forms with labels, tables with
 * captions and header cells, a skip link and visible focus; they work without the script.
 */
import type { breakerViews, linkViews, orphanViews, teamDetail, teamSummaries } from '../../admin/views.js';
import type { JournalRecord } from '../../store/journal.js';
import type { TeamRef } from '../../store/session-store.js';
import { html, type Html } from './html.js';
import { humanDuration } from '../../util/duration.js';

export type Section = 'teams' | 'links' | 'gc' | 'journal';

export interface Viewer {
  /** `token grafana-reader (read)` or `alice@example.com (team admin)`. */
  label: string;
  /** Operators may see every section; a team admin only Teams and Links. */
  operator: boolean;
  mayWrite: boolean;
}

export interface PageFrame {
  title: string;
  section: Section | null;
  viewer: Viewer | null;
  csrf: string | null;
  notice?: string | null;
  error?: string | null;
}

const SECTIONS: { id: Section; label: string; href: string; operatorOnly: boolean }[] = [
  { id: 'teams', label: 'Teams', href: '/teams', operatorOnly: false },
  { id: 'links', label: 'Links', href: '/links', operatorOnly: false },
  { id: 'gc', label: 'GC', href: '/gc', operatorOnly: true },
  { id: 'journal', label: 'Journal', href: '/journal', operatorOnly: true },
];

export function layout(frame: PageFrame, body: Html): Html {
  const nav = frame.viewer
    ? html`<nav aria-label="Sections"><ul>${SECTIONS.filter((s) => frame.viewer!.operator || !s.operatorOnly).map(
        (s) => html`<li><a href="${s.href}"${frame.section === s.id ? html` aria-current="page"` : ''}>${s.label}</a></li>`,
      )}</ul></nav>
      <form class="inline" method="post" action="/logout"><input type="hidden" name="_csrf" value="${frame.csrf ?? ''}"><span class="muted">${frame.viewer.label}</span> <button class="secondary" type="submit">Sign out</button></form>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · heroku-s3-controller</title>
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><span class="brand">heroku-s3-controller</span>${nav}</header>
<main id="main" tabindex="-1">
<h1>${frame.title}</h1>
${frame.error ? html`<div class="alert" role="alert"><strong>Error:</strong> ${frame.error}</div>` : ''}
${frame.notice ? html`<div class="notice" role="status">${frame.notice}</div>` : ''}
${body}
</main>
</body>
</html>`;
}

export function signInPage(options: { next: string; herokuSignIn: boolean; csrf: string; error: string | null; status?: string | null }): Html {
  return layout(
    { title: 'Sign in', section: null, viewer: null, csrf: options.csrf, error: options.error, notice: options.status ?? null },
    html`
${options.herokuSignIn
  ? html`<h2>Team admins</h2>
<p>Sign in with your Heroku account. You will see, and may link, the Heroku Teams you administer.</p>
<p><a class="button" href="/auth/heroku?next=${encodeURIComponent(options.next)}" id="heroku-sign-in">Sign in with Heroku</a></p>`
  : html`<p class="muted">Heroku sign-in is not configured (HEROKU_OAUTH_ID, HEROKU_OAUTH_SECRET, CONSOLE_URL).</p>`}
<h2>Operators</h2>
<form class="stack" method="post" action="/login/token">
  <input type="hidden" name="_csrf" value="${options.csrf}">
  <input type="hidden" name="next" value="${options.next}">
  <div><label for="token">API token <span class="hint">(from <code>heroku-s3-controller token create</code>)</span></label>
  <input id="token" name="token" type="password" autocomplete="off" required spellcheck="false"></div>
  <div><button type="submit">Sign in with a token</button></div>
</form>`,
  );
}

/** A refusal as a page: 401 (sign in), 403 (not yours) or 404, with where to go next. */
export function problemPage(frame: Omit<PageFrame, 'section'>, message: string, next: Html | null = null): Html {
  return layout({ ...frame, section: null }, html`<p role="alert">${message}</p>${next ?? ''}`);
}

function health(h: { status: string; error: string | null; checkedAt: string | null }): Html {
  if (h.status === 'ok') return html`<span class="badge ok">reads fine</span>`;
  if (h.status === 'failing') return html`<span class="badge bad">failing</span> <span class="bad">${h.error ?? ''}</span>`;
  return html`<span class="badge muted">not read yet</span>`;
}

function countdown(deleteAfter: string, secondsLeft: number): Html {
  return html`<span data-deadline="${deleteAfter}">${secondsLeft <= 0 ? 'now (grace over)' : `in ${humanDuration(secondsLeft)}`}</span> <span class="muted">(${deleteAfter.replace('T', ' ').slice(0, 16)} UTC)</span>`;
}

/** How old a key is, and a warning once it is older than KEY_MAX_AGE. */
function keyAge(createdAt: string | null, pastMaxAge: boolean | null): Html {
  if (!createdAt) return html``;
  const age = html` <span class="muted">made ${humanDuration(Math.max(0, Math.round((Date.now() - Date.parse(createdAt)) / 1000)))} ago</span>`;
  return pastMaxAge ? html`${age} <span class="badge bad">older than KEY_MAX_AGE: replace it</span>` : age;
}

const ROTATION_STEPS: Record<string, string> = {
  requested: 'rotation requested, waiting for its turn',
  creating: 'rotating: the new key is being delivered',
  delivered: 'rotating: the old key stays active for the overlap',
  deactivated: 'rotating: the old key is deactivated, deleted after the grace',
  reactivated: 'rotation stopped: the old key was still used after its deactivation',
};

/** The add-on's key rotation in flight, in words, with the key it retires. */
function rotationNote(rotation: { step: string; since: string; trigger: string; oldAccessKeyId: string } | null): Html {
  if (!rotation) return html``;
  const badge = rotation.step === 'reactivated' ? 'bad' : 'warn';
  return html`<br><span class="badge ${badge}">${ROTATION_STEPS[rotation.step] ?? rotation.step}${rotation.trigger === 'emergency' ? ' (compromised key)' : ''}</span> <span class="muted">old key <code>${rotation.oldAccessKeyId}</code></span>`;
}

export function teamsPage(frame: PageFrame, teams: ReturnType<typeof teamSummaries>, unlinked: TeamRef[]): Html {
  return layout(
    frame,
    html`
<div class="table-wrap"><table class="stacked">
<caption>Linked teams (${teams.length})</caption>
<thead><tr><th scope="col">Team</th><th scope="col">AWS account</th><th scope="col">Add-ons</th><th scope="col">Drifted</th><th scope="col">Orphans</th><th scope="col">Account read</th></tr></thead>
<tbody>
${teams.length === 0 ? html`<tr><td colspan="6">No team is linked yet. <a href="/links">Link one</a>.</td></tr>` : ''}
${teams.map(
  (t) => html`<tr>
<td data-label="Team"><a href="/teams/${encodeURIComponent(t.teamName)}">${t.teamName}</a></td>
<td data-label="AWS account"><code>${t.accountId}</code></td>
<td data-label="Add-ons">${t.addons}</td>
<td data-label="Drifted">${t.drifted > 0 ? html`<span class="warn">${t.drifted}</span>` : '0'}</td>
<td data-label="Orphans">${t.orphans}</td>
<td data-label="Account read">${health(t.health)}</td>
</tr>`,
)}
</tbody></table></div>
${unlinked.length > 0
  ? html`<h2>Teams you administer that are not linked</h2><ul>${unlinked.map((t) => html`<li>${t.name} — <a href="/links?team=${encodeURIComponent(t.name)}">link it to an AWS account</a></li>`)}</ul>`
  : ''}`,
  );
}

export function teamPage(frame: PageFrame, team: NonNullable<ReturnType<typeof teamDetail>>): Html {
  const wanted = team.addons.filter((a) => a.wanted);
  const orphans = team.addons.filter((a) => a.orphan !== null);
  return layout(
    frame,
    html`
<p>AWS account <code>${team.link.accountId}</code> · ${health(team.link.health)} · ${team.readAt ? html`read from Heroku at ${team.readAt.replace('T', ' ').slice(0, 19)} UTC` : 'not read from Heroku yet: the first pass shows its add-ons'}</p>
<div class="table-wrap"><table class="stacked" id="addons">
<caption>Add-ons (${wanted.length})</caption>
<thead><tr><th scope="col">Add-on</th><th scope="col">App</th><th scope="col">State</th><th scope="col">Bucket</th><th scope="col">IAM user and key</th><th scope="col">Delivered to</th><th scope="col">Drift</th></tr></thead>
<tbody>
${wanted.length === 0 ? html`<tr><td colspan="7">No add-on of this team yet.</td></tr>` : ''}
${wanted.map(
  (a) => html`<tr data-addon="${a.addonId}">
<td data-label="Add-on">${a.addonName ?? a.addonId}<br><span class="muted">${a.plan ?? ''}</span></td>
<td data-label="App">${a.appName ?? ''}</td>
<td data-label="State">${a.state === 'ready' ? html`<span class="badge ok">ready</span>` : a.state === 'error' ? html`<span class="badge bad">error</span> <span class="bad">${a.lastError ?? ''}</span>` : html`<span class="badge muted">${a.state}</span>`}</td>
<td data-label="Bucket">${a.resourceName ? html`<code>${a.resourceName}</code><br><span class="muted">${a.region ?? ''}</span>` : html`<span class="muted">none yet</span>`}</td>
<td data-label="IAM user and key">${a.userName ? html`<code>${a.userName}</code>` : ''}${a.accessKeyId ? html`<br><code>${a.accessKeyId}</code>${keyAge(a.keyCreatedAt, a.keyPastMaxAge)}` : ''}${rotationNote(a.rotation)}</td>
<td data-label="Delivered to">${a.attachments.length === 0 ? html`<span class="muted">no attachment</span>` : html`<ul>${a.attachments.map((x) => html`<li>${x.appName ?? x.appId} <span class="muted">${x.name ?? ''}</span> ${x.delivered ? html`<span class="ok">delivered</span>` : html`<span class="warn">not yet</span>`}</li>`)}</ul>`}</td>
<td data-label="Drift">${a.drift.length === 0 ? html`<span class="ok">in sync</span>` : html`<ul>${a.drift.map((d) => html`<li><strong>${d.field}</strong>: expected <code>${d.expected ?? '—'}</code>, found <code>${d.actual ?? '—'}</code> <span class="badge ${d.status === 'repairable' ? 'warn' : 'bad'}">${d.status}</span></li>`)}</ul>`}</td>
</tr>`,
)}
</tbody></table></div>
<div class="table-wrap"><table class="stacked" id="orphans">
<caption>Orphans (${orphans.length}): resources no add-on wants, deleted when their grace ends</caption>
<thead><tr><th scope="col">Add-on</th><th scope="col">Bucket</th><th scope="col">IAM user</th><th scope="col">Why</th><th scope="col">Deleted</th></tr></thead>
<tbody>
${orphans.length === 0 ? html`<tr><td colspan="5">None.</td></tr>` : ''}
${orphans.map(
  (a) => html`<tr>
<td data-label="Add-on">${a.addonName ?? a.addonId}</td>
<td data-label="Bucket">${a.resourceName ? html`<code>${a.resourceName}</code>` : ''}</td>
<td data-label="IAM user">${a.userName ? html`<code>${a.userName}</code>` : ''}</td>
<td data-label="Why">${a.orphan!.reason}</td>
<td data-label="Deleted">${a.orphan!.retained ? 'never (kept by its plan)' : a.orphan!.heldByBreaker ? html`<span class="warn">held by the mass-deletion breaker</span>` : countdown(a.orphan!.deleteAfter, a.orphan!.secondsLeft)}</td>
</tr>`,
)}
</tbody></table></div>`,
  );
}

export interface LinkFormValues {
  team: string;
  via: 'keys' | 'role';
  accessKeyId: string;
  roleArn: string;
  region: string;
}

export function linksPage(frame: PageFrame, links: ReturnType<typeof linkViews>, form: { teams: TeamRef[] | null; externalIds: Record<string, string> | null; values: LinkFormValues }): Html {
  const v = form.values;
  return layout(
    frame,
    html`
<div class="table-wrap"><table class="stacked">
<caption>Links (${links.length})</caption>
<thead><tr><th scope="col">Team</th><th scope="col">AWS account</th><th scope="col">Via</th><th scope="col">Region</th><th scope="col">Account read</th>${frame.viewer?.mayWrite ? html`<th scope="col">Unlink</th>` : ''}</tr></thead>
<tbody>
${links.length === 0 ? html`<tr><td colspan="6">No team is linked yet.</td></tr>` : ''}
${links.map(
  (l) => html`<tr>
<td data-label="Team"><a href="/teams/${encodeURIComponent(l.teamName)}">${l.teamName}</a></td>
<td data-label="AWS account"><code>${l.accountId}</code></td>
<td data-label="Via">${'roleArn' in l ? html`role <code>${l.roleArn}</code>` : html`key <code>${'accessKeyId' in l ? l.accessKeyId : ''}</code>${keyAge('accessKeyCreatedAt' in l ? l.accessKeyCreatedAt : null, l.accessKeyPastMaxAge ?? null)}`}</td>
<td data-label="Region">${l.region ?? 'each app\u2019s region'}</td>
<td data-label="Account read">${health(l.health)}</td>
${frame.viewer?.mayWrite
  ? html`<td data-label="Unlink"><form method="post" action="/links/${encodeURIComponent(l.teamId)}/unlink" data-confirm="Unlink ${l.teamName}? Its buckets and users stay in AWS account ${l.accountId}; new add-ons of the team get none.">
<input type="hidden" name="_csrf" value="${frame.csrf ?? ''}"><button class="secondary" type="submit">Unlink ${l.teamName}</button></form></td>`
  : ''}
</tr>`,
)}
</tbody></table></div>
${frame.viewer?.mayWrite
  ? html`<h2 id="link-form">Link a team to an AWS account</h2>
<p>The keys or role are checked with AWS STS before anything is stored; the secret is stored encrypted and never shown again.</p>
<form class="stack" method="post" action="/links">
<input type="hidden" name="_csrf" value="${frame.csrf ?? ''}">
<div><label for="team">Heroku Team</label>
${form.teams
  ? html`<select id="team" name="team" required>${form.teams.map((t) => html`<option value="${t.name}"${t.name === v.team ? html` selected` : ''}>${t.name}</option>`)}</select>`
  : html`<input id="team" name="team" type="text" required value="${v.team}" autocomplete="off">`}</div>
<fieldset><legend>Credentials of the team's AWS account</legend>
<div><input type="radio" id="via-keys" name="via" value="keys"${v.via === 'keys' ? html` checked` : ''}> <label class="inline" for="via-keys">Access keys of an IAM user</label></div>
<div><label for="accessKeyId">Access key id</label><input id="accessKeyId" name="accessKeyId" type="text" value="${v.accessKeyId}" autocomplete="off" spellcheck="false"></div>
<div><label for="secretAccessKey">Secret access key</label><input id="secretAccessKey" name="secretAccessKey" type="password" autocomplete="off"></div>
<div><input type="radio" id="via-role" name="via" value="role"${v.via === 'role' ? html` checked` : ''}> <label class="inline" for="via-role">A role to assume</label></div>
<div><label for="roleArn">Role ARN</label><input id="roleArn" name="roleArn" type="text" value="${v.roleArn}" autocomplete="off" spellcheck="false"></div>
${form.externalIds
  ? html`<div id="external-ids"><p class="hint">A role's trust policy must require its team's external id (condition <code>sts:ExternalId</code>), so that no one else can link it:</p>
<ul>${Object.entries(form.externalIds).map(([team, id]) => html`<li>${team}: <code>${id}</code></li>`)}</ul></div>`
  : html`<div><label for="externalId">External id <span class="hint">(if the role's trust policy asks for one)</span></label><input id="externalId" name="externalId" type="password" autocomplete="off"></div>`}
</fieldset>
<div><label for="region">Region <span class="hint">(optional; default: each app's region)</span></label><input id="region" name="region" type="text" value="${v.region}" placeholder="us-east-1" autocomplete="off"></div>
<div><button type="submit">Check and link</button></div>
</form>`
  : ''}`,
  );
}

export function gcPage(frame: PageFrame, breakers: ReturnType<typeof breakerViews>, orphans: ReturnType<typeof orphanViews>): Html {
  return layout(
    frame,
    html`
<h2>Mass-deletion breakers</h2>
${breakers.length === 0 ? html`<p class="ok" id="no-breaker">No breaker has tripped: deletions proceed as their grace ends.</p>` : ''}
${breakers.map((b) => {
  const what = b.planned.map((p) => [p.resourceName, p.userName].filter(Boolean).join(' and ')).filter((x) => x !== '');
  return html`<section aria-labelledby="breaker-${b.accountId}">
<h3 id="breaker-${b.accountId}">AWS account <code>${b.accountId}</code>: tripped ${b.trippedAt.replace('T', ' ').slice(0, 16)} UTC${b.approvedAt ? html` · <span class="ok">approved ${b.approvedAt.replace('T', ' ').slice(0, 16)} UTC</span>` : ''}</h3>
<div class="table-wrap"><table class="stacked">
<caption>Held back: the resources of ${b.planned.length} add-on(s)</caption>
<thead><tr><th scope="col">Add-on</th><th scope="col">Bucket</th><th scope="col">IAM user</th></tr></thead>
<tbody>${b.planned.map((p) => html`<tr><td data-label="Add-on">${p.addonName ?? p.addonId}</td><td data-label="Bucket"><code>${p.resourceName ?? ''}</code></td><td data-label="IAM user"><code>${p.userName ?? ''}</code></td></tr>`)}</tbody>
</table></div>
${!b.approvedAt && frame.viewer?.mayWrite
  ? html`<form class="stack" method="post" action="/gc/${b.accountId}/approve">
<input type="hidden" name="_csrf" value="${frame.csrf ?? ''}">
${b.planned.map((p) => html`<input type="hidden" name="addonIds" value="${p.addonId}">`)}
<div><input type="checkbox" id="confirm-${b.accountId}" name="confirm" value="yes" required>
<label class="inline" for="confirm-${b.accountId}">I have read the list: the next pass deletes ${what.join(', ')} in account ${b.accountId}, with their contents.</label></div>
<div><button class="danger" type="submit">Approve deleting ${b.planned.length} add-on(s)</button></div>
</form>`
  : ''}
</section>`;
})}
<div class="table-wrap"><table class="stacked" id="orphans">
<caption>Orphans (${orphans.length}), soonest deletion first</caption>
<thead><tr><th scope="col">Add-on</th><th scope="col">Account</th><th scope="col">Bucket</th><th scope="col">IAM user</th><th scope="col">Why</th><th scope="col">Deleted</th></tr></thead>
<tbody>
${orphans.length === 0 ? html`<tr><td colspan="6">None.</td></tr>` : ''}
${orphans.map(
  (o) => html`<tr><td data-label="Add-on">${o.addonName}</td><td data-label="Account"><code>${o.accountId}</code></td><td data-label="Bucket"><code>${o.resourceName ?? ''}</code></td><td data-label="IAM user"><code>${o.userName}</code></td><td data-label="Why">${o.reason}</td>
<td data-label="Deleted">${o.retained ? 'never (kept by its plan)' : o.heldByBreaker ? html`<span class="warn">held by the breaker</span>` : countdown(o.deleteAfter, o.secondsLeft)}</td></tr>`,
)}
</tbody></table></div>`,
  );
}

export function journalPage(frame: PageFrame, entries: (JournalRecord & { actor: string | null })[], filter: Record<string, string>): Html {
  const field = (name: string, label: string) => html`<div><label for="f-${name}">${label}</label><input id="f-${name}" name="${name}" type="text" value="${filter[name] ?? ''}" autocomplete="off"></div>`;
  return layout(
    frame,
    html`
<form method="get" action="/journal" class="stack" aria-label="Filter the journal">
${field('action', 'Action')}${field('actor', 'Who')}${field('addon', 'Add-on id')}${field('account', 'AWS account')}
<div><button type="submit">Filter</button> <a href="/journal">Clear</a></div>
</form>
<div class="table-wrap"><table class="stacked">
<caption>Newest ${entries.length} line(s), newest first</caption>
<thead><tr><th scope="col">When (UTC)</th><th scope="col">Action</th><th scope="col">Phase</th><th scope="col">Resource</th><th scope="col">Who</th><th scope="col">Detail</th></tr></thead>
<tbody>
${[...entries].reverse().map(
  (e) => html`<tr><td data-label="When">${e.at.toISOString().replace('T', ' ').slice(0, 19)}</td><td data-label="Action">${e.action}</td><td data-label="Phase">${e.phase}</td><td data-label="Resource"><code>${e.resource}</code></td><td data-label="Who">${e.actor ?? html`<span class="muted">controller</span>`}</td><td data-label="Detail"><code>${JSON.stringify(e.detail)}</code></td></tr>`,
)}
</tbody></table></div>`,
  );
}
