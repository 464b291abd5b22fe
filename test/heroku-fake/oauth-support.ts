/**
 * What the OAuth tests of the Heroku fake share: a fresh fake per test on a clock the test moves
 * (OAuth codes and user tokens expire by it), ended by checking every answer against the schema;
 * and the web flow's steps as a client without a browser makes them (plain fetch, redirects not
 * followed).
 */
import Heroku from 'heroku-client';
import { afterEach, beforeEach, expect } from 'vitest';
import { HerokuFake } from '../support/heroku-fake/index.js';

export interface OAuthFakePerTest {
  fake: HerokuFake;
  /** The fake's clock (ms); move it with `clock.now += …`. */
  clock: { now: number };
}

export function oauthFakePerTest(): OAuthFakePerTest {
  const current = {} as OAuthFakePerTest;
  beforeEach(async () => {
    current.clock = { now: Date.parse('2026-05-01T12:00:00Z') };
    const clock = current.clock;
    current.fake = await HerokuFake.start({ clock: () => clock.now });
  });
  afterEach(async () => {
    const violations = [...current.fake.schemaViolations];
    await current.fake.stop();
    expect(violations).toEqual([]);
  });
  return current;
}

/** The authorize URL a web app sends its user to. */
export function authorizeUrl(fake: HerokuFake, params: Record<string, string>): string {
  const u = new URL('/oauth/authorize', fake.url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

export interface RawAnswer {
  status: number;
  location: string | null;
  contentType: string | null;
  text: string;
}

/** A request whose redirect is returned, not followed. */
export async function noFollow(url: string, init: RequestInit = {}): Promise<RawAnswer> {
  const res = await fetch(url, { ...init, redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), contentType: res.headers.get('content-type'), text: await res.text() };
}

/** `POST /oauth/token`, form-encoded as Heroku documents. */
export async function tokenRequest(fake: HerokuFake, form: Record<string, string>) {
  const res = await fetch(`${fake.url}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams(form).toString(),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, body: (await res.json()) as any };
}

function decodeEntities(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);
}

/** The hidden fields of the authorize page's form, as a browser would send them back. */
export function hiddenFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) out[m[1]!] = decodeEntities(m[2]!);
  return out;
}

/** Submits the authorize page's form the way a browser does (`decision` is the pressed button). */
export async function submitAuthorizeForm(fake: HerokuFake, html: string, fields: Record<string, string>): Promise<RawAnswer> {
  const action = /<form method="post" action="([^"]+)">/.exec(html)?.[1];
  if (!action) throw new Error('no form on the page');
  return noFollow(new URL(action, fake.url).toString(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...hiddenFields(html), ...fields }).toString(),
  });
}

/** heroku-client with a user's access token. */
export function herokuAs(fake: HerokuFake, token: string): Heroku {
  return new Heroku({ token, host: fake.url });
}
