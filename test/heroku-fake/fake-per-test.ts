/**
 * What the Heroku fake's own tests share: a fresh fake (and heroku-client on it) for every test,
 * ended by checking that every answer it served matched the official schema; and raw requests,
 * to see the statuses, headers and bodies heroku-client hides.
 */
import Heroku from 'heroku-client';
import { afterEach, beforeEach, expect } from 'vitest';
import { HerokuFake } from '../support/heroku-fake/index.js';

export interface FakePerTest {
  fake: HerokuFake;
  heroku: Heroku;
}

/** Registers the hooks; read `fake` and `heroku` from the returned object inside each test. */
export function fakePerTest(): FakePerTest {
  const current = {} as FakePerTest;
  beforeEach(async () => {
    current.fake = await HerokuFake.start();
    current.heroku = new Heroku({ token: current.fake.token, host: current.fake.url });
  });
  afterEach(async () => {
    const violations = [...current.fake.schemaViolations];
    await current.fake.stop();
    expect(violations).toEqual([]);
  });
  return current;
}

/** A request with the controller's token and Heroku's Accept header, answered in full. */
export async function rawRequest(fake: HerokuFake, path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const res = await fetch(fake.url + path, {
    method: init.method ?? 'GET',
    headers: {
      Accept: 'application/vnd.heroku+json; version=3',
      Authorization: `Bearer ${fake.token}`,
      ...(init.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}
