/**
 * The suite runs on the Node.js major the image ships (issue 15): `npm ci` installs that Node as a
 * dev dependency (the `node` package, which fetches the platform's binary from the npm registry),
 * and npm puts it first on the PATH of every script, so `npm test`, `npm start` and `npm run demo`
 * run on it whatever Node the machine has. Node 20 reached its end of life in April 2026, and AWS
 * SDK releases from January 2027 require Node 22 or later.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const major = (version: string) => Number(/^v?(\d+)\./.exec(version)?.[1]);
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string }; devDependencies: Record<string, string> };
const imageNode = /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)-/m.exec(dockerfile)?.[1];

describe('the Node.js the project runs on', () => {
  it('is the image\'s: the Dockerfile, the dev dependency and the Node running this test agree', () => {
    expect(imageNode, 'the Dockerfile names its Node image as node:X.Y.Z-…').toBeDefined();
    expect(pkg.devDependencies.node).toBe(imageNode);
    expect(major(process.version)).toBe(major(imageNode!));
  });

  it('is at least 22, as package.json says', () => {
    expect(pkg.engines.node).toBe('>=22');
    expect(major(process.version)).toBeGreaterThanOrEqual(22);
  });
});
