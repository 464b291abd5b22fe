#!/usr/bin/env node
/**
 * Rehearses the container image without a Docker engine: reads the Dockerfile and replays its
 * build in a temp folder, then starts the image's command the way the container would.
 *
 *   scripts/image/rehearse.sh [--keep] [--report FILE] [--database-url URL]
 *   scripts/image/rehearse.sh --list-context      # the build context .dockerignore lets through
 *
 * 1. Build context: the repository filtered by .dockerignore (Docker's matching rules: last
 *    matching pattern wins, a pattern matching a parent folder matches everything under it).
 * 2. Each stage gets its own folder standing in for its root filesystem; the container path P is
 *    <stage>/P. WORKDIR, COPY (from the context or `--from=<stage>`), ENV and ARG are applied;
 *    RUN steps made only of npm commands are run for real (BuildKit `--mount` flags dropped: the
 *    machine's npm cache stands in for the cache mount; `prefer-offline` only saves revalidation
 *    requests). Other RUN steps (user creation, mkdir/chown) are system steps: reported, not run;
 *    their effect is stood in for below.
 * 3. The final stage's ENTRYPOINT + CMD is started with the stage's ENV, in its WORKDIR, as the
 *    image's numeric USER when this runs as root (else as the current user), with DATA_DIR, /tmp
 *    and HOME mapped into the stage folder, and PORT on a free port. The application folder
 *    stays owned by root and not writable by that user, as in the image.
 *    With --database-url, a second start as in Kubernetes: DATABASE_URL (an empty database) and
 *    FERNET_KEYS set, DATA_DIR not writable, a fresh TMPDIR.
 * 4. Checks: /healthz answers 200, /readyz turns 200 and /metrics answers 200; SIGTERM makes the
 *    process exit 0 within STOP_TIMEOUT; the application folder is unchanged afterwards; the
 *    production node_modules holds no package the lockfile marks as dev-only (typescript, vitest,
 *    tsx, esbuild, ...) and every runtime dependency.
 *
 * Exit status 0 when everything passed. The last stdout line is a one-line summary; --report
 * writes a JSON report (steps with durations, checks, package lists) for tests.
 * Env: REHEARSE_KEEP=1 (keep the temp folder), REHEARSE_NODE (node binary for the start command;
 * default this one; the image has Node 24).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HEALTH_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

const args = process.argv.slice(2);
const keep = args.includes('--keep') || process.env.REHEARSE_KEEP === '1';
const reportIndex = args.indexOf('--report');
const reportFile = reportIndex >= 0 ? path.resolve(args[reportIndex + 1] ?? '') : null;
const dbIndex = args.indexOf('--database-url');
const databaseUrl = dbIndex >= 0 ? args[dbIndex + 1] : null;

const log = (msg) => process.stderr.write(`[rehearse] ${msg}\n`);
class RehearsalError extends Error {}
const fail = (msg) => {
  throw new RehearsalError(msg);
};

const report = { ok: false, steps: [], skipped: [], checks: {}, user: null, stop: null, packages: {} };
const timed = async (label, fn) => {
  const start = Date.now();
  try {
    return await fn();
  } finally {
    const ms = Date.now() - start;
    report.steps.push({ step: label, ms });
    log(`${label} (${(ms / 1000).toFixed(1)} s)`);
  }
};

// ---- Dockerfile ---------------------------------------------------------------------------------

/** Logical lines of a Dockerfile: comments dropped, `\` continuations joined. */
function dockerfileLines(text) {
  const out = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line)) continue; // comments (and parser directives), also inside continuations
    if (current === '' && line.trim() === '') continue;
    if (/\\\s*$/.test(line)) {
      current += line.replace(/\\\s*$/, ' ');
      continue;
    }
    current += line;
    out.push(current.trim());
    current = '';
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

function substitute(text, vars) {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, braced, dflt, bare) => {
    const name = braced ?? bare;
    const value = vars[name];
    return value !== undefined && value !== '' ? value : (dflt ?? '');
  });
}

/** `k=v k2="v 2"` (or the legacy `k v`) into pairs. */
function keyValues(rest) {
  const pairs = [];
  const re = /([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*=/.test(rest)) {
    const [key, ...value] = rest.split(/\s+/);
    return [[key, value.join(' ')]];
  }
  for (const m of rest.matchAll(re)) {
    let value = m[2];
    if (value.startsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (value.startsWith("'")) value = value.slice(1, -1);
    pairs.push([m[1], value]);
  }
  return pairs;
}

/** Leading `--flag=value` options of COPY/RUN, and what follows. */
function flags(rest) {
  const opts = {};
  let text = rest;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(text);
    if (!m) break;
    (opts[m[1]] ??= []).push(m[2] ?? 'true');
    text = text.slice(m[0].length);
  }
  return { opts, text };
}

function parseDockerfile(text) {
  const globalArgs = {};
  const stages = [];
  for (const line of dockerfileLines(text)) {
    const m = /^([A-Za-z]+)\s*(.*)$/s.exec(line);
    if (!m) fail(`cannot read Dockerfile line: ${line}`);
    const instruction = m[1].toUpperCase();
    const rest = m[2];
    const stage = stages[stages.length - 1];
    if (instruction === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(substitute(rest, globalArgs).trim());
      if (!f) fail(`cannot read FROM ${rest}`);
      stages.push({ name: f[2] ?? String(stages.length), image: f[1], steps: [] });
    } else if (instruction === 'ARG' && !stage) {
      for (const [k, v] of keyValues(rest)) globalArgs[k] = v;
    } else {
      if (!stage) fail(`${instruction} before the first FROM`);
      stage.steps.push({ instruction, rest });
    }
  }
  if (stages.length === 0) fail('the Dockerfile has no FROM');
  return { globalArgs, stages };
}

// ---- .dockerignore ------------------------------------------------------------------------------

function globToRegExp(pattern) {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function readDockerignore(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const clean = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
      return { negate, pattern: clean, re: globToRegExp(clean) };
    });
}

/** Docker's rule: the last pattern matching the path or one of its parent folders decides. */
function excluded(rel, patterns) {
  const parts = rel.split('/');
  let out = false;
  for (const p of patterns) {
    for (let n = parts.length; n >= 1; n--) {
      if (p.re.test(parts.slice(0, n).join('/'))) {
        out = !p.negate;
        break;
      }
    }
  }
  return out;
}

/** Files of the build context, relative to the repository root. */
function contextFiles(root, patterns) {
  const files = [];
  const canReinclude = (dir) => patterns.some((p) => p.negate && (p.pattern.startsWith(`${dir}/`) || /[*?[]/.test(p.pattern.split('/')[0])));
  const walk = (dir) => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${entry.name}` : entry.name;
      const out = excluded(rel, patterns);
      if (entry.isDirectory()) {
        if (!out || canReinclude(rel)) walk(rel);
      } else if (!out) files.push(rel);
    }
  };
  walk('');
  return files.sort();
}

// ---- helpers ------------------------------------------------------------------------------------

function run(cmd, argv, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, output }));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function get(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(0));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Every file and folder under dir, with size and mtime, to prove nothing was written there. */
function snapshot(dir) {
  const out = new Map();
  const walk = (rel) => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      const st = statSync(path.join(dir, r), { throwIfNoEntry: false });
      if (!st) continue;
      out.set(r, `${st.size}:${st.mtimeMs}`);
      if (entry.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

/** Installed packages: `node_modules/...` paths as the lockfile names them. */
function installedPackages(appDir) {
  const found = [];
  const scan = (nm) => {
    if (!existsSync(path.join(appDir, nm))) return;
    for (const entry of readdirSync(path.join(appDir, nm), { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      if (entry.name.startsWith('@')) {
        for (const sub of readdirSync(path.join(appDir, nm, entry.name), { withFileTypes: true })) {
          if (!sub.isDirectory()) continue;
          const pkg = `${nm}/${entry.name}/${sub.name}`;
          found.push(pkg);
          scan(`${pkg}/node_modules`);
        }
      } else {
        const pkg = `${nm}/${entry.name}`;
        found.push(pkg);
        scan(`${pkg}/node_modules`);
      }
    }
  };
  scan('node_modules');
  return found.sort();
}

const PID1_WRAPPER = (uid, gid) => ['--pid', '--fork', '--kill-child', '--', 'setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs', '--'];

async function pid1Works(uid, gid) {
  try {
    const result = await run('unshare', [...PID1_WRAPPER(uid, gid), 'sh', '-c', 'echo "$$ $(id -u)"'], {});
    return result.code === 0 && result.output.trim() === `1 ${uid}`;
  } catch {
    return false;
  }
}

/** The (outer) pid of the one child of `parent`: node, forked by unshare. */
async function childOf(parent) {
  for (let i = 0; i < 100; i++) {
    try {
      const children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      if (children.length === 1) return Number(children[0]);
    } catch {
      // no /proc children file: fall through and retry
    }
    await sleep(50);
  }
  fail(`cannot find the process unshare (${parent}) started`);
}

/**
 * Deleting two node_modules trees (~30,000 files, ~400 MB) takes 20-70 s on this disk, and is no
 * part of the rehearsal: a detached `rm -rf` does it after we exit. Leftovers of killed runs older
 * than an hour go the same way at the next start.
 */
function removeInBackground(dir) {
  spawn('rm', ['-rf', dir], { detached: true, stdio: 'ignore' }).unref();
}

function removeStale() {
  const tmp = os.tmpdir();
  for (const name of readdirSync(tmp)) {
    if (!name.startsWith('hsc-image-')) continue;
    const st = statSync(path.join(tmp, name), { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs > 3_600_000) removeInBackground(path.join(tmp, name));
  }
}

// ---- the rehearsal ------------------------------------------------------------------------------

async function main() {
  const { globalArgs, stages } = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  removeStale();
  const work = mkdtempSync(path.join(os.tmpdir(), 'hsc-image-'));
  chmodSync(work, 0o755);
  report.work = work;
  log(`rehearsing ${stages.length} stages in ${work}`);
  let server = null;
  /** node's pid as seen from here (behind unshare, the child of `server`). */
  let serverTarget = null;
  // setpriv's change of user clears unshare's --kill-child (a parent-death signal): kill node itself.
  const killServer = () => {
    for (const pid of [serverTarget, server?.pid]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  try {
    // 1. build context
    const context = path.join(work, 'context');
    const patterns = readDockerignore(path.join(ROOT, '.dockerignore'));
    const files = contextFiles(ROOT, patterns);
    await timed(`context: ${files.length} files allowed by .dockerignore`, async () => {
      for (const rel of files) cpSync(path.join(ROOT, rel), path.join(context, rel), { preserveTimestamps: true });
    });
    report.context = files;

    // 2. stages
    const roots = {};
    const finals = {};
    for (const stage of stages) {
      const root = path.join(work, `stage-${stage.name}`);
      mkdirSync(root, { recursive: true, mode: 0o755 });
      chmodSync(root, 0o755);
      roots[stage.name] = root;
      const vars = { ...globalArgs };
      const env = {};
      let workdir = '/';
      let user = null;
      let entrypoint = [];
      let cmd = [];
      const expose = [];
      const inStage = (p) => path.join(root, path.posix.resolve(workdir, p));
      for (const { instruction, rest: raw } of stage.steps) {
        const rest = instruction === 'RUN' ? raw : substitute(raw, { ...vars, ...env });
        switch (instruction) {
          case 'ARG':
            for (const [k, v] of keyValues(rest)) vars[k] = globalArgs[k] !== undefined && v === '' ? globalArgs[k] : v;
            break;
          case 'ENV':
            for (const [k, v] of keyValues(rest)) env[k] = v;
            break;
          case 'WORKDIR':
            workdir = path.posix.resolve(workdir, rest.trim());
            mkdirSync(path.join(root, workdir), { recursive: true, mode: 0o755 });
            break;
          case 'COPY': {
            const { opts, text } = flags(rest);
            const parts = text.trim().split(/\s+/);
            const dest = parts.pop();
            const from = opts.from?.[0];
            if (from !== undefined && !roots[from]) fail(`COPY --from=${from}: no such stage before ${stage.name}`);
            const base = from !== undefined ? roots[from] : context;
            await timed(`${stage.name}: COPY ${text.trim()}`, async () => {
              for (const src of parts) {
                const source = from !== undefined ? path.join(base, src) : path.join(base, src);
                if (!existsSync(source)) fail(`COPY ${src}: not in the ${from !== undefined ? `stage ${from}` : 'build context (.dockerignore?)'}`);
                const isDir = statSync(source).isDirectory();
                const target = dest.endsWith('/') || parts.length > 1 ? path.join(inStage(dest), isDir ? '' : path.basename(src)) : inStage(dest);
                cpSync(source, target, { recursive: true, preserveTimestamps: true });
              }
            });
            break;
          }
          case 'RUN': {
            const { opts, text } = flags(raw);
            const script = text.trim();
            const segments = script.split(/\s*&&\s*/);
            if (!segments.every((s) => /^npm\s/.test(s))) {
              report.skipped.push({ stage: stage.name, run: script });
              log(`${stage.name}: system step, not rehearsed: RUN ${script.replace(/\s+/g, ' ')}`);
              break;
            }
            const cwd = path.join(root, workdir);
            const runEnv = { ...process.env, ...vars, ...env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' };
            const label = `${stage.name}: RUN ${opts.mount ? '(cache mount: host npm cache) ' : ''}${script}`;
            const result = await timed(label, () => run('sh', ['-c', script], { cwd, env: runEnv }));
            if (result.code !== 0) fail(`${label} failed (exit ${result.code ?? result.signal}):\n${result.output.trim().split('\n').slice(-30).join('\n')}`);
            break;
          }
          case 'USER':
            user = rest.trim();
            break;
          case 'EXPOSE':
            expose.push(...rest.trim().split(/\s+/));
            break;
          case 'ENTRYPOINT':
            entrypoint = JSON.parse(rest);
            cmd = [];
            break;
          case 'CMD':
            cmd = JSON.parse(rest);
            break;
          case 'LABEL':
          case 'STOPSIGNAL':
          case 'HEALTHCHECK':
          case 'SHELL':
          case 'VOLUME':
            break;
          default:
            fail(`${instruction} is not understood by the rehearsal; teach scripts/image/rehearse.mjs`);
        }
      }
      finals[stage.name] = { root, env, workdir, user, entrypoint, cmd, expose };
    }

    // 3. start the final stage's command
    const last = finals[stages[stages.length - 1].name];
    const appDir = path.join(last.root, last.workdir);
    if (last.entrypoint.length === 0) fail('the final stage has no ENTRYPOINT');
    if (!last.user) fail('the final stage has no USER: the image would run as root');
    const [uidText, gidText] = last.user.split(':');
    if (!/^\d+$/.test(uidText) || (gidText !== undefined && !/^\d+$/.test(gidText))) fail(`USER ${last.user} is not numeric (runAsNonRoot needs a numeric uid)`);
    if (Number(uidText) === 0) fail('USER is root');
    const asRoot = process.getuid?.() === 0;
    const uid = asRoot ? Number(uidText) : process.getuid?.();
    const gid = asRoot ? Number(gidText ?? uidText) : process.getgid?.();
    report.user = { image: last.user, rehearsedUid: uid ?? null, rehearsedGid: gid ?? null, droppedFromRoot: asRoot };

    for (const [variable, fallback] of [['PORT', '8080'], ['PUBLIC_PORT', '8081']]) {
      if (last.expose.length && !last.expose.some((p) => p.split('/')[0] === (last.env[variable] ?? fallback))) {
        fail(`EXPOSE ${last.expose.join(' ')} does not include the image's ${variable} ${last.env[variable] ?? fallback}`);
      }
    }
    const argv = [...last.entrypoint, ...last.cmd];
    const binary = argv[0] === 'node' ? (process.env.REHEARSE_NODE ?? process.execPath) : argv[0];
    // Node as PID 1, as in the container: a new PID namespace (unshare) in which setpriv drops to
    // the image's user (with no_new_privs, like allowPrivilegeEscalation: false) and execs node.
    // The kernel then delivers SIGTERM from outside only if node handles it, exactly as for a
    // container's PID 1. Needs root (CAP_SYS_ADMIN); otherwise node runs as an ordinary child.
    const pid1 = asRoot && (await pid1Works(uid, gid));
    report.pid1 = pid1;
    log(pid1 ? 'node will run as PID 1 of its own PID namespace' : 'PID namespaces unavailable (not root, or unshare refused): node runs as an ordinary child');
    const userDir = (dir, mode) => {
      mkdirSync(dir, { recursive: true, mode });
      chmodSync(dir, mode);
      if (asRoot) chownSync(dir, uid, gid);
    };

    /** One start of the image's command: healthy, ready, exits 0 on SIGTERM, writes nowhere else. */
    const startAndStop = async (label, { dataDir, tmpDir, extraEnv }) => {
      const port = await freePort();
      let publicPort = await freePort();
      while (publicPort === port) publicPort = await freePort();
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...last.env,
        DATA_DIR: dataDir,
        TMPDIR: tmpDir,
        HOME: path.join(last.root, 'nonexistent'),
        PORT: String(port),
        PUBLIC_PORT: String(publicPort),
        ...extraEnv,
      };
      const before = snapshot(appDir);
      log(`${label}: starting ${argv.join(' ')} as uid ${uid} on port ${port} (cwd ${appDir})`);
      const started = Date.now();
      let output = '';
      server = pid1
        ? spawn('unshare', [...PID1_WRAPPER(uid, gid), binary, ...argv.slice(1)], { cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(binary, argv.slice(1), { cwd: appDir, env, uid, gid, stdio: ['ignore', 'pipe', 'pipe'] });
      server.stdout.on('data', (d) => (output += d));
      server.stderr.on('data', (d) => (output += d));
      const exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));
      let exitInfo = null;
      void exited.then((e) => (exitInfo = e));
      // With unshare, the signal goes to node itself (PID 1 of its namespace), from outside it,
      // as the container runtime sends it.
      const target = pid1 ? await childOf(server.pid) : server.pid;
      serverTarget = target;
      const tail = () => output.trim().split('\n').slice(-20).join('\n');

      const base = `http://127.0.0.1:${port}`;
      const waitFor = async (pathname, timeoutMs) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const status = await get(`${base}${pathname}`);
          if (status === 200) return Date.now() - started;
          if (exitInfo) fail(`${label}: the server exited (${exitInfo.code ?? exitInfo.signal}) before ${pathname} answered 200:\n${tail()}`);
          if (Date.now() > deadline) fail(`${label}: ${pathname} did not answer 200 within ${timeoutMs / 1000} s (last status ${status}):\n${tail()}`);
          await sleep(200);
        }
      };
      const checks = {};
      checks.healthzMs = await timed(`${label}: /healthz answers 200`, () => waitFor('/healthz', HEALTH_TIMEOUT_MS));
      checks.readyzMs = await timed(`${label}: /readyz answers 200`, () => waitFor('/readyz', 30_000));
      checks.metrics = await get(`${base}/metrics`);
      if (checks.metrics !== 200) fail(`${label}: /metrics answered ${checks.metrics}`);
      // Who is running: node itself, as PID 1 of its namespace (NSpid's last field), as the user.
      // Its program, not its name: Node 24 names its main thread `MainThread`, which /proc shows.
      const status = readFileSync(`/proc/${target}/status`, 'utf8');
      checks.process = {
        name: path.basename(readlinkSync(`/proc/${target}/exe`)),
        namespacePid: Number(/^NSpid:.*?(\d+)\s*$/m.exec(status)?.[1] ?? NaN),
        uid: Number(/^Uid:\s*(\d+)/m.exec(status)?.[1] ?? NaN),
        noNewPrivs: /^NoNewPrivs:\s*1/m.test(status),
      };
      if (pid1 && checks.process.namespacePid !== 1) fail(`${label}: node is not PID 1 of its namespace: ${JSON.stringify(checks.process)}`);

      const stopStart = Date.now();
      process.kill(target, 'SIGTERM');
      const stopped = await Promise.race([exited, sleep(STOP_TIMEOUT_MS).then(() => null)]);
      const stopMs = Date.now() - stopStart;
      writeFileSync(path.join(work, `${label}.log`), output);
      if (!stopped) {
        killServer();
        fail(`${label}: the server did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM`);
      }
      server = null;
      serverTarget = null;
      checks.stop = { code: stopped.code, signal: stopped.signal, ms: stopMs };
      log(`${label}: SIGTERM -> exit ${stopped.code ?? stopped.signal} in ${stopMs} ms`);
      if (stopped.code !== 0) fail(`${label}: the server exited ${stopped.code ?? stopped.signal} after SIGTERM, not 0:\n${tail()}`);
      if (!/"reason":"shutdown"/.test(output)) fail(`${label}: the server did not log its shutdown`);

      // Nothing written in the application folder (the image's root filesystem is read-only).
      const after = snapshot(appDir);
      checks.appDirChanged = [...after.keys()].filter((k) => before.get(k) !== after.get(k));
      if (checks.appDirChanged.length) fail(`${label}: the server wrote into the application folder (read-only in the image): ${checks.appDirChanged.slice(0, 10).join(', ')}`);
      checks.dataDirFiles = readdirSync(dataDir).sort();
      checks.tmpFiles = readdirSync(tmpDir).sort();
      return checks;
    };

    // a) As `docker run` without configuration: the embedded database in the image's DATA_DIR
    //    (a stand-in for the skipped mkdir/chown: owned by the user, 0700).
    const dataDir = path.join(last.root, last.env.DATA_DIR ?? '/data');
    userDir(dataDir, 0o700);
    userDir(path.join(last.root, 'tmp'), 0o700);
    const embedded = await startAndStop('embedded', { dataDir, tmpDir: path.join(last.root, 'tmp'), extraEnv: {} });
    report.checks = embedded;
    report.stop = embedded.stop;

    // b) As in Kubernetes: DATABASE_URL and FERNET_KEYS set, DATA_DIR not writable (the chart's
    //    read-only root filesystem), a fresh /tmp (the chart's emptyDir).
    if (databaseUrl) {
      const readOnlyData = path.join(work, 'readonly-data');
      mkdirSync(readOnlyData, { mode: 0o555 });
      chmodSync(readOnlyData, 0o555);
      const k8sTmp = path.join(work, 'k8s-tmp');
      userDir(k8sTmp, 0o1777);
      report.kubernetes = await startAndStop('database-url', {
        dataDir: readOnlyData,
        tmpDir: k8sTmp,
        extraEnv: { DATABASE_URL: databaseUrl, FERNET_KEYS: randomBytes(32).toString('base64url'), POD_NAME: 'rehearsal-0', POD_NAMESPACE: 'rehearsal' },
      });
    }

    // 4. production dependencies only
    const lock = JSON.parse(readFileSync(path.join(appDir, 'package-lock.json'), 'utf8'));
    const pkg = JSON.parse(readFileSync(path.join(appDir, 'package.json'), 'utf8'));
    const installed = installedPackages(appDir);
    const lockPackages = lock.packages ?? {};
    const devInstalled = installed.filter((p) => lockPackages[p]?.dev === true);
    const unknown = installed.filter((p) => !(p in lockPackages));
    const devOnly = Object.keys(pkg.devDependencies ?? {}).filter((name) => lockPackages[`node_modules/${name}`]?.dev === true);
    const missing = Object.keys(pkg.dependencies ?? {}).filter((name) => !installed.includes(`node_modules/${name}`));
    report.packages = {
      installed: installed.length,
      devOnlyDeclared: devOnly,
      devOnlyPresent: devOnly.filter((name) => installed.includes(`node_modules/${name}`)),
      devInstalled,
      unknown,
      missingDependencies: missing,
      present: Object.fromEntries(['typescript', 'vitest', 'tsx', 'esbuild', 'pg', 'pino'].map((n) => [n, installed.includes(`node_modules/${n}`)])),
    };
    if (devInstalled.length) fail(`the production install holds dev-only packages: ${devInstalled.slice(0, 10).join(', ')}`);
    if (unknown.length) fail(`the production install holds packages the lockfile does not list: ${unknown.slice(0, 10).join(', ')}`);
    if (missing.length) fail(`the production install lacks dependencies: ${missing.join(', ')}`);
    report.ok = true;
  } finally {
    if (server) killServer();
    if (!keep) removeInBackground(work);
    else log(`kept ${work}`);
  }
}

if (args.includes('--list-context')) {
  // The files `docker build .` would send: one per line.
  for (const file of contextFiles(ROOT, readDockerignore(path.join(ROOT, '.dockerignore')))) console.log(file);
  process.exit(0);
}

const started = Date.now();
try {
  await main();
} catch (err) {
  report.error = err instanceof RehearsalError ? err.message : String(err?.stack ?? err);
}
report.totalMs = Date.now() - started;
if (reportFile) writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
if (report.ok) {
  console.log(
    `image rehearsal: ok in ${(report.totalMs / 1000).toFixed(1)} s (healthz after ${report.checks.healthzMs} ms, SIGTERM -> exit 0 in ${report.stop.ms} ms` +
      `${report.kubernetes ? `; with DATABASE_URL and a read-only DATA_DIR: healthz after ${report.kubernetes.healthzMs} ms, exit 0 in ${report.kubernetes.stop.ms} ms` : ''}` +
      `; ${report.packages.installed} production packages, no dev-only one)`,
  );
} else {
  log(`FAILED: ${report.error}`);
  console.log('image rehearsal: FAILED');
  process.exitCode = 1;
}
