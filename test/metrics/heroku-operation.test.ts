/**
 * `herokuOperation`: Heroku request paths as bounded label values. The examples are the paths the
 * controller calls; the schema sweep fills every link of the official Platform API schema with
 * canary names and checks that no name survives into the template.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { herokuOperation } from '../../src/metrics/metrics.js';
import { schemaPath } from '../support/heroku-fake/index.js';

describe('herokuOperation', () => {
  it.each([
    ['GET', '/teams/acme/addons?x', 'GET /teams/{team}/addons', 'team name, query dropped'],
    ['GET', `/teams/${randomUUID()}/addons`, 'GET /teams/{team}/addons', 'team id'],
    ['GET', `/teams/${randomUUID()}/apps`, 'GET /teams/{team}/apps', 'team apps'],
    ['PATCH', `/apps/${randomUUID()}/config-vars`, 'PATCH /apps/{app}/config-vars', 'config vars of an app'],
    ['GET', '/addon-attachments', 'GET /addon-attachments', 'a bare collection'],
    ['GET', `/addons/${randomUUID()}/addon-attachments`, 'GET /addons/{addon}/addon-attachments', 'nested collection'],
    ['GET', '/teams/acme', 'GET /teams/{team}', 'one team'],
    ['GET', '/account/rate-limits', 'GET /account/rate-limits', 'singleton followed by a fixed word'],
    ['POST', '/addons/a1/actions/provision', 'POST /addons/{addon}/actions/provision', 'actions'],
    ['GET', '/teams/apps/my-app', 'GET /teams/apps/{app}', 'the team-apps collection'],
    ['get', '/apps/my-app/addons/my-addon', 'GET /apps/{app}/addons/{addon}', 'method upper-cased'],
    ['GET', '/', 'GET /', 'root'],
    ['GET', '', 'GET /', 'empty path'],
    ['GET', '/apps/x/config-vars#frag', 'GET /apps/{app}/config-vars', 'fragment dropped'],
    ['GET', '/apps//x', 'GET /apps/{app}', 'empty segments ignored'],
    ['PROPFIND', '/apps', 'OTHER /apps', 'unknown methods are folded'],
  ])('%s %s → %s (%s)', (method, path, expected) => {
    expect(herokuOperation(method, path)).toBe(expected);
  });

  it('never lets an unknown word through, wherever it stands', () => {
    for (const path of ['/acme', '/acme/addons', '/teams/acme/acme', '/teams/acme/addons/acme/acme', '/account/acme', '/apps/acme/dynos/acme/actions/acme']) {
      expect(herokuOperation('GET', path), path).not.toContain('acme');
    }
  });

  it('keeps a collection word that stands where an identity belongs as a placeholder', () => {
    // An app literally named `addons` is still an identity.
    expect(herokuOperation('GET', '/apps/addons/config-vars')).toBe('GET /apps/{app}/config-vars');
  });

  it('templates every link of the Platform API schema without leaking a name', () => {
    const schema = JSON.parse(readFileSync(schemaPath(), 'utf8')) as unknown;
    const links: { method: string; href: string }[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (node === null || typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      if (typeof o['href'] === 'string' && typeof o['method'] === 'string') links.push({ method: o['method'], href: o['href'] });
      Object.values(o).forEach(walk);
    };
    walk(schema);
    expect(links.length).toBeGreaterThan(200);
    for (const { method, href } of links) {
      let n = 0;
      const filled = href.replace(/\{[^}]*\}/g, () => `canary-${n++}`);
      const operation = herokuOperation(method, filled);
      expect(operation, `${method} ${href}`).not.toMatch(/canary/);
      // Same shape as the schema's template: fixed words kept, every identity a placeholder.
      const shape = (p: string) => p.split('/').filter(Boolean).map((s) => (s.startsWith('{') || s === '~' ? '{}' : s));
      expect(shape(operation.slice(operation.indexOf(' ') + 1)), `${method} ${href}`).toEqual(shape(href));
    }
  });
});
