/**
 * The Helm chart in deploy/helm/heroku-s3-controller, checked with a real helm (built from its Go
 * module by scripts/stand/ensure-helm.sh: ~10 minutes on a machine with empty Go caches, then
 * cached) and, for the alert rules, Prometheus's promtool (scripts/stand/ensure-promtool.sh):
 * lint, what the default and the every-option renders contain, the values schema refusing bad
 * values, and alert rules that are valid, fire when they should, and name metrics the controller
 * really exports.
 */
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART, ensureTool, ROOT, run } from './support.js';
import { loadConfig } from '../../src/config/config.js';

type Obj = Record<string, any>;

const ALL_OPTIONS = path.join(CHART, 'ci/all-options-values.yaml');
const RELEASE = 't';
const NAMESPACE = 'ops';
const FULLNAME = 't-heroku-s3-controller';
const PUBLIC_SERVICE = `${FULLNAME}-public`;
/** Variables whose values are secrets: they may only come from the Secret, never as a value. */
const SECRET_VARIABLE = /(_TOKEN|_KEYS?|_KEY_ID|_SECRETS?|_PASSWORD|^DATABASE_URL)$/;
/** The only paths the Ingress may route: what Heroku must reach. */
const PUBLIC_PATHS = ['/webhooks/heroku', '/heroku/resources'];

let helm: string;
let tmp: string;

beforeAll(async () => {
  helm = await ensureTool('ensure-helm.sh', 'helm');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'hsc-helm-test-'));
}, 1_200_000); // a cold `go install` of helm on 2 cores

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function template(...args: string[]): Promise<Obj[]> {
  const result = await run(helm, ['template', RELEASE, CHART, '--namespace', NAMESPACE, ...args]);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`);
  // Plain objects (loadAllYaml maps known kinds onto client-node's model classes).
  return (loadAllYaml(result.stdout) as Obj[]).filter(Boolean).map((o) => JSON.parse(JSON.stringify(o)) as Obj);
}

const kinds = (objects: Obj[]) => objects.map((o) => o.kind as string).sort();
const one = (objects: Obj[], kind: string, name?: string): Obj => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};
const container = (objects: Obj[]): Obj => one(objects, 'Deployment').spec.template.spec.containers[0];
const envOf = (objects: Obj[]): Map<string, Obj> => new Map((container(objects).env as Obj[]).map((e) => [e.name as string, e]));
const portNumber = (objects: Obj[], name: string): number => (container(objects).ports as Obj[]).find((p) => p.name === name)?.containerPort;
/** Every Service an Ingress of the render sends traffic to, with the path and port. */
const ingressBackends = (objects: Obj[]): { ingress: string; host?: string; path?: string; pathType?: string; service: string; port: Obj }[] =>
  objects
    .filter((o) => o.kind === 'Ingress')
    .flatMap((ingress) => [
      ...(ingress.spec.defaultBackend ? [{ ingress: ingress.metadata.name, ...ingress.spec.defaultBackend.service }] : []),
      ...((ingress.spec.rules ?? []) as Obj[]).flatMap((rule) =>
        ((rule.http?.paths ?? []) as Obj[]).map((p) => ({ ingress: ingress.metadata.name, host: rule.host, path: p.path, pathType: p.pathType, ...p.backend.service })),
      ),
    ])
    .map(({ name, ...rest }) => ({ ...rest, service: name }));

/** The environment variables src/config/config.ts reads (the keys of its zod envSchema). */
function configVariables(): string[] {
  const source = readFileSync(path.join(ROOT, 'src/config/config.ts'), 'utf8');
  const block = /const envSchema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(source)?.[1];
  if (!block) throw new Error('cannot find `const envSchema = z.object({...});` in src/config/config.ts');
  return [...block.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
}

/** Metric names the controller registers (src/metrics/metrics.ts). */
function exportedMetrics(): Set<string> {
  const source = readFileSync(path.join(ROOT, 'src/metrics/metrics.ts'), 'utf8');
  const prefix = /export const METRIC_PREFIX = '([a-z0-9_]+)'/.exec(source)?.[1];
  if (!prefix) throw new Error('cannot find METRIC_PREFIX in src/metrics/metrics.ts');
  return new Set([...source.matchAll(/name: `\$\{METRIC_PREFIX\}([a-z0-9_]+)`/g)].map((m) => prefix + m[1]));
}

describe('helm lint', () => {
  it('passes --strict with the default values', async () => {
    const result = await run(helm, ['lint', '--strict', CHART]);
    expect(result.stdout + result.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(result.code).toBe(0);
  });

  it('passes --strict with every option switched on', async () => {
    const result = await run(helm, ['lint', '--strict', CHART, '-f', ALL_OPTIONS]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('has the application version of package.json', () => {
    const chart = readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(chart).toMatch(/^apiVersion: v2$/m);
    expect(chart).toContain(`appVersion: "${pkg.version}"`);
  });
});

describe('default render', () => {
  let objects: Obj[];
  beforeAll(async () => {
    objects = await template();
  });

  it('renders the expected objects, and no Prometheus Operator ones', () => {
    expect(kinds(objects)).toEqual(['Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'Service', 'ServiceAccount']);
    for (const o of objects) expect(o.metadata.namespace).toBe(NAMESPACE);
  });

  it('runs 2 replicas with probes, resources and the image of the app version', () => {
    const deployment = one(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    const c = container(objects);
    expect(c.image).toBe('heroku-s3-controller:0.1.0');
    expect(c.args).toEqual(['serve']);
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'public', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    expect(c.startupProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources.limits).toMatchObject({ memory: expect.any(String) });
    expect(deployment.spec.template.spec.serviceAccountName).toBe(FULLNAME);
  });

  it('caps the V8 heap at half the memory limit (256 MB at the default 512Mi)', () => {
    expect((container(objects).env as Obj[]).filter((e) => e.name === 'NODE_OPTIONS')).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=256' }]);
  });

  it.each([
    ['1Gi', '--max-old-space-size=512'],
    ['1536Mi', '--max-old-space-size=768'],
    ['1G', '--max-old-space-size=476'],
    ['2.5Gi', '--max-old-space-size=1280'],
    ['800000000', '--max-old-space-size=381'],
  ])('derives the heap cap from a memory limit of %s', async (limit, flag) => {
    expect(envOf(await template('--set', `resources.limits.memory=${limit}`)).get('NODE_OPTIONS')?.value).toBe(flag);
  });

  it('sets no heap cap with heapPercentOfMemoryLimit 0 or without a memory limit', async () => {
    expect(envOf(await template('--set', 'heapPercentOfMemoryLimit=0')).has('NODE_OPTIONS')).toBe(false);
    expect(envOf(await template('--set', 'resources.limits=null')).has('NODE_OPTIONS')).toBe(false);
  });

  it('leaves the exposure window to the controller unless it is set, so a short deepCheckWindow (even "0") still starts', async () => {
    for (const window of ['0', '10m']) {
      const env = envOf(await template('--set-string', `config.deepCheckWindow=${window}`));
      expect(env.has('DEEP_CHECK_EXPOSURE_WINDOW')).toBe(false);
      const values = Object.fromEntries([...env.values()].filter((e) => typeof e.value === 'string').map((e) => [e.name as string, e.value as string]));
      expect(loadConfig({ ...values, FERNET_KEYS: 'x' } as NodeJS.ProcessEnv).exposureCheckWindowMs).toBe(window === '0' ? 0 : 600_000);
    }
    expect(envOf(await template('--set', 'config.deepCheckExposureWindow=5m')).get('DEEP_CHECK_EXPOSURE_WINDOW')?.value).toBe('5m');
  });

  it('says how to fix a memory limit it cannot read', async () => {
    const result = await run(helm, ['template', RELEASE, CHART, '--set', 'resources.limits.memory=lots']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('resources.limits.memory "lots": cannot derive the heap cap from it; write it in Mi or Gi, or set heapPercentOfMemoryLimit: 0');
  });

  it('is locked down: non-root, read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    const pod = one(objects, 'Deployment').spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(objects).securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // The one writable place: an emptyDir on /tmp.
    expect(container(objects).volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(pod.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }]);
  });

  it('passes the pod identity, the Lease and every setting as environment, secrets by reference', () => {
    const env = envOf(objects);
    expect(env.get('POD_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env.get('POD_NAMESPACE')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    expect(env.get('LEADER_ELECTION')?.value).toBe('kubernetes');
    expect(env.get('LEASE_NAME')?.value).toBe(FULLNAME);
    expect(env.get('LEASE_NAMESPACE')?.value).toBe(NAMESPACE);
    expect([env.get('LEASE_DURATION')?.value, env.get('LEASE_RENEW_DEADLINE')?.value, env.get('LEASE_RETRY_PERIOD')?.value]).toEqual(['15s', '10s', '2s']);
    for (const key of ['DATABASE_URL', 'FERNET_KEYS', 'HEROKU_API_TOKEN']) {
      expect(env.get(key), key).toEqual({ name: key, valueFrom: { secretKeyRef: { name: FULLNAME, key } } });
    }
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      expect(env.get(key), key).toEqual({ name: key, valueFrom: { secretKeyRef: { name: FULLNAME, key, optional: true } } });
    }
    // The application's defaults, spelled out.
    expect(env.get('GC_MODE')?.value).toBe('enabled');
    expect(env.get('LOG_LEVEL')?.value).toBe('info');
    expect(env.get('RESYNC_SCHEDULE')?.value).toBe('* * * * *');
    expect(env.get('GC_EMPTY_KEYS_PER_PASS')?.value).toBe('10000');
    expect(env.get('GC_BREAKER_MIN_DELETIONS')?.value).toBe('5');
    expect(env.get('PORT')?.value).toBe('8080');
    expect(env.get('PUBLIC_PORT')?.value).toBe('8081');
    expect(env.get('METRICS_REQUIRE_TOKEN')?.value).toBe('false');
    expect(env.get('PUBLIC_RATE_LIMIT')?.value).toBe('1200');
    // No Ingress, so no proxy in front: the client is the socket's peer.
    expect(env.get('TRUST_PROXY')?.value).toBe('0');
    expect(env.get('SESSION_TTL')?.value).toBe('8h');
    // No Heroku sign-in by default: operators sign in to the console with API tokens.
    expect(env.has('CONSOLE_URL')).toBe(false);
    expect(env.has('HEROKU_OAUTH_ID')).toBe(false);
    for (const key of ['ADDON_MANIFEST_PASSWORD', 'ADDON_CLIENT_SECRET', 'WEBHOOK_SECRETS', 'HEROKU_OAUTH_SECRET']) {
      expect(env.get(key), key).toEqual({ name: key, valueFrom: { secretKeyRef: { name: FULLNAME, key, optional: true } } });
    }
    // No INSTANCE_ID by default: the database chooses one and keeps it (issue 13, defect 8).
    expect(env.has('INSTANCE_ID')).toBe(false);
    // No secret value is ever written into the Deployment (METRICS_REQUIRE_TOKEN is a switch, not a token).
    for (const e of env.values()) if (SECRET_VARIABLE.test(e.name) && e.name !== 'METRICS_REQUIRE_TOKEN') expect(e.value, e.name).toBeUndefined();
  });

  it('grants only what the controller uses: its Lease and Events', () => {
    const role = one(objects, 'Role');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [FULLNAME], verbs: ['get', 'update'] },
    ]);
    const binding = one(objects, 'RoleBinding');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NAMESPACE }]);
    expect(one(objects, 'ServiceAccount').metadata.name).toBe(FULLNAME);
  });

  it('has a ClusterIP Service per listener, no Ingress, and a PodDisruptionBudget of minAvailable 1, all selecting the pods', () => {
    const podLabels = one(objects, 'Deployment').spec.template.metadata.labels as Record<string, string>;
    const service = one(objects, 'Service', FULLNAME);
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    expect(podLabels).toMatchObject(service.spec.selector);
    const publicService = one(objects, 'Service', PUBLIC_SERVICE);
    expect(publicService.spec.type).toBe('ClusterIP');
    expect(publicService.spec.ports).toEqual([{ name: 'public', port: 8081, targetPort: 'public', protocol: 'TCP' }]);
    expect(podLabels).toMatchObject(publicService.spec.selector);
    expect(kinds(objects)).not.toContain('Ingress');
    const pdb = one(objects, 'PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(podLabels).toMatchObject(pdb.spec.selector.matchLabels);
  });

  it('renders no PodDisruptionBudget for a single replica (it would block every drain)', async () => {
    expect(kinds(await template('--set', 'replicaCount=1'))).not.toContain('PodDisruptionBudget');
  });
});

describe('every option', () => {
  let objects: Obj[];
  beforeAll(async () => {
    objects = await template(
      '-f', ALL_OPTIONS,
      '--set', 'config.aws.endpointUrl=https://aws.example.com',
      '--set', 'config.aws.endpointUrlS3=https://s3.example.com',
      '--set', 'config.aws.endpointUrlIam=https://iam.example.com',
      '--set', 'config.aws.endpointUrlResourceGroupsTaggingApi=https://tagging.example.com',
      '--set', 'config.aws.endpointUrlSqs=https://sqs.example.com',
      '--set', 'config.aws.endpointUrlEventbridge=https://events.example.com',
    );
  });

  it('renders the ServiceMonitor and the PrometheusRule, and a Role for the Lease in its own namespace', () => {
    expect(kinds(objects)).toEqual([
      'Deployment', 'Ingress', 'PodDisruptionBudget', 'PrometheusRule', 'Role', 'RoleBinding', 'Service', 'Service', 'ServiceAccount', 'ServiceMonitor',
    ]);
    const monitor = one(objects, 'ServiceMonitor');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels.release).toBe('prometheus');
    // metrics.requireToken: the scrape sends the operator API token of the values-named Secret.
    expect(monitor.spec.endpoints).toEqual([
      {
        port: 'http',
        path: '/metrics',
        interval: '15s',
        scrapeTimeout: '10s',
        authorization: { type: 'Bearer', credentials: { name: 'hs3-metrics-token', key: 'api-token' } },
      },
    ]);
    const leaseRole = one(objects, 'Role', 'hs3-leader-election');
    expect(leaseRole.metadata.namespace).toBe('platform-leases');
    expect(leaseRole.rules[1].resourceNames).toEqual(['hs3-leader']);
    // Its events go on the Lease, into that namespace: nothing is granted in the release's own.
    expect(leaseRole.rules.at(-1)).toEqual({ apiGroups: [''], resources: ['events'], verbs: ['create'] });
    expect(one(objects, 'RoleBinding', 'hs3-leader-election').metadata.namespace).toBe('platform-leases');
  });

  it('sets every environment variable the application reads', () => {
    const env = envOf(objects);
    const missing = configVariables().filter((name) => !env.has(name));
    expect(missing, 'variables of src/config/config.ts the chart does not set').toEqual([]);
    expect(env.get('ADDON_SERVICES')?.value).toBe('s3-bucket,bucketeer');
    expect(env.get('GC_EMPTY_KEYS_PER_PASS')?.value).toBe('1000000');
    expect(env.get('GC_BREAKER_MIN_DELETIONS')?.value).toBe('3');
    expect(env.get('KEY_MAX_AGE')?.value).toBe('60d');
    expect(['DEEP_CHECK_WINDOW', 'DEEP_CHECK_EXPOSURE_WINDOW', 'DEEP_CHECK_WINDOW_WITH_EVENTS', 'DEEP_CHECK_EXPOSURE_WINDOW_WITH_EVENTS'].map((name) => env.get(name)?.value)).toEqual(['2h', '10m', '12h', '20m']);
    expect(['ROTATION_OVERLAP', 'ROTATION_DEACTIVATED_GRACE', 'ROTATION_MAX_CONCURRENT_APPS', 'ROTATION_MAX_DEACTIVATION_RATIO'].map((name) => env.get(name)?.value)).toEqual(['30m', '12h', '3', '0.25']);
    expect(env.get('INSTANCE_ID')?.value).toBe('prod');
    expect([env.get('PORT')?.value, env.get('PUBLIC_PORT')?.value, env.get('METRICS_REQUIRE_TOKEN')?.value]).toEqual(['9090', '9091', 'true']);
    expect([env.get('PUBLIC_RATE_LIMIT')?.value, env.get('TRUST_PROXY')?.value]).toEqual(['600', '2']);
    expect([env.get('CONSOLE_URL')?.value, env.get('HEROKU_OAUTH_ID')?.value, env.get('SESSION_TTL')?.value]).toEqual([
      'https://s3-console.internal.example.com',
      '01234567-89ab-cdef-0123-456789abcdef',
      '4h',
    ]);
    // The console's OAuth client secret comes from the Secret, under the key the values name.
    expect(env.get('HEROKU_OAUTH_SECRET')).toEqual({
      name: 'HEROKU_OAUTH_SECRET',
      valueFrom: { secretKeyRef: { name: 'hs3-secrets', key: 'console-oauth-secret', optional: true } },
    });
    for (const e of env.values()) if (SECRET_VARIABLE.test(e.name) && e.name !== 'METRICS_REQUIRE_TOKEN') expect(e.value, e.name).toBeUndefined();
    expect(JSON.parse(env.get('PLAN_PROFILES')?.value as string)).toEqual({
      's3-bucket:versioned': { versioning: true },
      'read-only': { access: 'read-only', corsOrigins: ['https://app.example.com'] },
    });
    // The operator's own NODE_OPTIONS (extraEnv) replaces the derived heap cap rather than repeating the name.
    expect((container(objects).env as Obj[]).filter((e) => e.name === 'NODE_OPTIONS')).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=384' }]);
    expect(env.get('LEASE_NAME')?.value).toBe('hs3-leader');
    expect(env.get('LEASE_NAMESPACE')?.value).toBe('platform-leases');
    expect(env.get('LEASE_DURATION')?.value).toBe('20s');
    expect(env.get('DATABASE_URL')?.valueFrom.secretKeyRef.name).toBe('hs3-secrets');
    expect(container(objects).image).toMatch(/^registry\.example\.com\/platform\/heroku-s3-controller@sha256:0{64}$/);
  });
});

describe('the private and the public listener', () => {
  const INGRESS = ['--set', 'ingress.enabled=true', '--set', 'ingress.hosts[0].host=hs3.example.com'];

  it.each([
    ['the defaults', [] as string[], 8080, 8081],
    ['other ports', ['--set', 'containerPort=9000', '--set', 'publicContainerPort=9443'], 9000, 9443],
    ['every option', ['-f', ALL_OPTIONS], 9090, 9091],
  ])('sets PORT and PUBLIC_PORT to the container ports "http" and "public" (%s)', async (_what, args, privatePort, publicPort) => {
    const objects = await template(...args);
    const env = envOf(objects);
    expect(portNumber(objects, 'http')).toBe(privatePort);
    expect(portNumber(objects, 'public')).toBe(publicPort);
    expect(env.get('PORT')?.value).toBe(String(privatePort));
    expect(env.get('PUBLIC_PORT')?.value).toBe(String(publicPort));
    // The probes ask the private listener (the public one has no /healthz or /readyz).
    const c = container(objects);
    for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) expect(probe.httpGet.port).toBe('http');
    // Each Service sends to its own listener.
    expect(objects.filter((o) => o.kind === 'Service').map((o) => o.spec.ports.map((p: Obj) => p.targetPort)).sort()).toEqual([['http'], ['public']]);
  });

  it.each([
    ['no Ingress', [] as string[], '0'],
    ['the Ingress', INGRESS, '1'],
    ['the Ingress, config.trustProxy null', [...INGRESS, '--set', 'config.trustProxy=null'], '1'],
    ['the Ingress, config.trustProxy 0', [...INGRESS, '--set', 'config.trustProxy=0'], '0'],
    ['no Ingress, config.trustProxy 2 (a load balancer that appends to X-Forwarded-For, then your own proxy)', ['--set', 'config.trustProxy=2'], '2'],
    ['every option', ['-f', ALL_OPTIONS], '2'],
  ])('sets TRUST_PROXY to the proxies in front: 1 behind the Ingress unless config.trustProxy says otherwise (%s)', async (_what, args, hops) => {
    const env = envOf(await template(...args));
    expect(env.get('TRUST_PROXY')?.value).toBe(hops);
  });

  it('sets PUBLIC_RATE_LIMIT from config.publicRateLimit', async () => {
    expect(envOf(await template('--set', 'config.publicRateLimit=300')).get('PUBLIC_RATE_LIMIT')?.value).toBe('300');
  });

  it('turns Heroku sign-in on with the OAuth client id and the console URL, its secret from the Secret', async () => {
    const env = envOf(
      await template('--set', 'config.console.url=http://localhost:8080', '--set', 'config.console.herokuOauthId=01234567-89ab-cdef-0123-456789abcdef', '--set', 'config.console.sessionTtl=12h'),
    );
    expect(env.get('CONSOLE_URL')?.value).toBe('http://localhost:8080');
    expect(env.get('HEROKU_OAUTH_ID')?.value).toBe('01234567-89ab-cdef-0123-456789abcdef');
    expect(env.get('SESSION_TTL')?.value).toBe('12h');
    expect(env.get('HEROKU_OAUTH_SECRET')?.valueFrom).toEqual({ secretKeyRef: { name: FULLNAME, key: 'HEROKU_OAUTH_SECRET', optional: true } });
    // The console URL alone (for the record) turns nothing on.
    const urlOnly = envOf(await template('--set', 'config.console.url=https://s3-console.example.com'));
    expect(urlOnly.get('CONSOLE_URL')?.value).toBe('https://s3-console.example.com');
    expect(urlOnly.has('HEROKU_OAUTH_ID')).toBe(false);
  });

  it('refuses an OAuth client id without the console URL its redirect goes back to, saying why', async () => {
    const result = await run(helm, ['template', RELEASE, CHART, '--set', 'config.console.herokuOauthId=01234567-89ab-cdef-0123-456789abcdef']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('config.console.herokuOauthId is set but config.console.url is empty');
    expect(result.stderr).toContain('CONSOLE_URL/auth/heroku/callback');
    expect(result.stderr).toContain('e.g. http://localhost:8080 with kubectl port-forward');
  });

  it('refuses one port for both listeners, saying why', async () => {
    const result = await run(helm, ['template', RELEASE, CHART, '--set', 'publicContainerPort=8080']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('containerPort and publicContainerPort are both 8080: the private and the public listener need ports of their own');
  });

  it('routes only /webhooks/heroku and /heroku/resources (Prefix) of each host to the public Service, never the private one', async () => {
    const objects = await template('-f', ALL_OPTIONS);
    const ingress = one(objects, 'Ingress');
    expect(ingress.apiVersion).toBe('networking.k8s.io/v1');
    expect(ingress.spec.ingressClassName).toBe('nginx');
    expect(ingress.metadata.annotations).toEqual({ 'cert-manager.io/cluster-issuer': 'letsencrypt', 'nginx.ingress.kubernetes.io/proxy-body-size': '1m' });
    expect(ingress.spec.tls).toEqual([{ secretName: 'heroku-s3-tls', hosts: ['heroku-s3.example.com', 'heroku-s3.example.net'] }]);
    expect(ingress.spec.defaultBackend).toBeUndefined();
    const publicService = one(objects, 'Service', 'hs3-public');
    const backends = ingressBackends(objects);
    expect(backends).toEqual(
      ['heroku-s3.example.com', 'heroku-s3.example.net'].flatMap((host) =>
        PUBLIC_PATHS.map((path) => ({ ingress: 'hs3', host, path, pathType: 'Prefix', service: 'hs3-public', port: { name: 'public' } })),
      ),
    );
    // The port it names is the public Service's, which targets the public container port.
    expect(publicService.spec.ports).toEqual([{ name: 'public', port: 80, targetPort: 'public', protocol: 'TCP' }]);
    expect(portNumber(objects, 'public')).toBe(9091);
  });

  it.each([
    ['the default values with an Ingress', INGRESS],
    ['every option', ['-f', ALL_OPTIONS]],
    ['a public LoadBalancer and an Ingress', [...INGRESS, '--set', 'publicService.type=LoadBalancer']],
  ])('keeps the private Service ClusterIP and out of every Ingress (%s)', async (_what, args) => {
    const objects = await template(...args);
    const services = objects.filter((o) => o.kind === 'Service');
    expect(services).toHaveLength(2);
    const privateService = services.find((o) => o.metadata.labels['heroku-s3-controller/listener'] === 'private')!;
    const publicService = services.find((o) => o.metadata.labels['heroku-s3-controller/listener'] === 'public')!;
    expect(privateService.spec.type).toBe('ClusterIP');
    expect(privateService.spec.ports.map((p: Obj) => p.targetPort)).toEqual(['http']);
    expect(publicService.spec.ports.map((p: Obj) => p.targetPort)).toEqual(['public']);
    const backends = ingressBackends(objects);
    expect(backends.length).toBeGreaterThan(0);
    expect(backends.filter((b) => b.service !== publicService.metadata.name)).toEqual([]);
    expect(new Set(backends.map((b) => b.path))).toEqual(new Set(PUBLIC_PATHS));
  });

  it('exposes the public Service alone as a LoadBalancer when asked', async () => {
    const objects = await template('--set', 'publicService.type=LoadBalancer');
    expect(one(objects, 'Service', PUBLIC_SERVICE).spec.type).toBe('LoadBalancer');
    expect(one(objects, 'Service', FULLNAME).spec.type).toBe('ClusterIP');
  });

  it('has the ServiceMonitor scrape /metrics on the private port, of the private Service only, anonymously by default', async () => {
    const objects = await template('--set', 'metrics.serviceMonitor.enabled=true');
    const monitor = one(objects, 'ServiceMonitor');
    expect(monitor.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);
    const selected = objects.filter(
      (o) => o.kind === 'Service' && Object.entries(monitor.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => o.metadata.labels[k] === v),
    );
    expect(selected.map((o) => o.metadata.name)).toEqual([FULLNAME]);
    // The endpoint's port is the private Service's port, which targets the container port PORT names.
    const [servicePort] = selected[0]!.spec.ports as Obj[];
    expect(servicePort!.name).toBe(monitor.spec.endpoints[0].port);
    expect(servicePort!.targetPort).toBe('http');
    expect(String(portNumber(objects, 'http'))).toBe(envOf(objects).get('PORT')?.value);
    expect(envOf(objects).get('METRICS_REQUIRE_TOKEN')?.value).toBe('false');
  });

  it('with metrics.requireToken, sets METRICS_REQUIRE_TOKEN and scrapes with the Bearer token of the named Secret', async () => {
    const objects = await template(
      '--set', 'metrics.requireToken=true',
      '--set', 'metrics.serviceMonitor.enabled=true',
      '--set', 'metrics.serviceMonitor.tokenSecret.name=prometheus-hsc-token',
    );
    expect(envOf(objects).get('METRICS_REQUIRE_TOKEN')?.value).toBe('true');
    expect(one(objects, 'ServiceMonitor').spec.endpoints).toEqual([
      {
        port: 'http',
        path: '/metrics',
        interval: '30s',
        scrapeTimeout: '10s',
        authorization: { type: 'Bearer', credentials: { name: 'prometheus-hsc-token', key: 'token' } },
      },
    ]);
  });

  it('with metrics.requireToken but no token Secret, refuses to render a ServiceMonitor that could not scrape', async () => {
    const result = await run(helm, ['template', RELEASE, CHART, '--set', 'metrics.requireToken=true', '--set', 'metrics.serviceMonitor.enabled=true']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('metrics.serviceMonitor.tokenSecret.name is empty: with metrics.requireToken the ServiceMonitor needs the Secret');
    // Without a ServiceMonitor no Secret is needed.
    expect(envOf(await template('--set', 'metrics.requireToken=true')).get('METRICS_REQUIRE_TOKEN')?.value).toBe('true');
  });

  describe('NOTES.txt', () => {
    /**
     * helm template leaves NOTES.txt out, and `helm install --dry-run` wants a cluster: a copy of
     * the chart keeps NOTES.txt outside templates/ and renders it with `tpl` into a ConfigMap.
     */
    const notes = async (...args: string[]): Promise<string> => {
      const copy = path.join(tmp, `chart-notes-${Math.random().toString(36).slice(2)}`);
      await cp(CHART, copy, { recursive: true });
      await rename(path.join(copy, 'templates/NOTES.txt'), path.join(copy, 'NOTES.txt'));
      await writeFile(
        path.join(copy, 'templates/notes-probe.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get "NOTES.txt") . | toJson }}\n',
      );
      const result = await run(helm, ['template', RELEASE, copy, '--namespace', NAMESPACE, '--show-only', 'templates/notes-probe.yaml', ...args]);
      if (result.code !== 0) throw new Error(`rendering NOTES.txt failed:\n${result.stderr}`);
      return (loadAllYaml(result.stdout)[0] as Obj).data.notes as string;
    };

    it('says how to reach the console: a port-forward to the private Service', async () => {
      const text = await notes();
      expect(text).toContain(`kubectl -n ${NAMESPACE} port-forward service/${FULLNAME} 8080:8080`);
      expect(text).toContain('http://localhost:8080/api/v1');
      expect(text).not.toMatch(/port-forward service\/\S*-public/);
      // Without an Ingress: what to expose, and what never to.
      expect(text).toContain(`expose service/${PUBLIC_SERVICE} yourself`);
      expect(text).toContain(`Never expose service/${FULLNAME}`);
    });

    /** The image's program, from the Dockerfile's ENTRYPOINT: what `kubectl exec` must run (no binary is on its PATH). */
    const entrypoint = (): string => {
      const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
      if (!line) throw new Error('cannot find the exec-form ENTRYPOINT of the Dockerfile');
      return (JSON.parse(line) as string[]).join(' ');
    };

    it('says how to make an operator API token in a pod, with the image\'s own program', async () => {
      const text = await notes();
      const exec = `kubectl -n ${NAMESPACE} exec deployment/${FULLNAME} -- ${entrypoint()}`;
      expect(text).toContain(`${exec} token create --name NAME --scope read`);
      expect(text).toContain(`${exec} tokens`);
      expect(text).toContain(`${exec} token revoke ID`);
      expect(text).toContain('http://localhost:8080/ for the console');
    });

    it('says how to turn Heroku sign-in on when it is off: the OAuth client, its secret in the Secret, its id', async () => {
      const text = await notes();
      expect(text).toContain('Heroku sign-in for team admins (they see, and may link, only the Heroku Teams they administer) is off');
      expect(text).toContain('heroku clients:create "S3 console" http://localhost:8080/auth/heroku/callback');
      expect(text).toContain(`kubectl -n ${NAMESPACE} patch secret ${FULLNAME} --type merge`);
      expect(text).toContain('{"stringData":{"HEROKU_OAUTH_SECRET":');
      expect(text).toContain('--set config.console.url=http://localhost:8080 --set config.console.herokuOauthId=');
      // A console URL of its own is the redirect URI's base.
      const own = await notes('--set', 'config.console.url=https://s3-console.internal.example.com/');
      expect(own).toContain('heroku clients:create "S3 console" https://s3-console.internal.example.com/auth/heroku/callback');
    });

    it('says Heroku sign-in is on, with the redirect URI and the Secret key of its secret', async () => {
      const text = await notes('-f', ALL_OPTIONS);
      expect(text).toContain('Heroku sign-in for team admins is on: OAuth client 01234567-89ab-cdef-0123-456789abcdef');
      expect(text).toContain('https://s3-console.internal.example.com/auth/heroku/callback');
      expect(text).toContain('key console-oauth-secret of Secret hs3-secrets');
      expect(text).not.toContain('clients:create');
    });

    it('says how clients of the public listener are told apart (TRUST_PROXY)', async () => {
      expect(await notes()).toContain('TRUST_PROXY 0, config.trustProxy');
      expect(await notes('--set', 'ingress.enabled=true', '--set', 'ingress.hosts[0].host=hs3.example.com')).toContain('TRUST_PROXY 1,\n   config.trustProxy: 1 because of the Ingress');
      expect(await notes('-f', ALL_OPTIONS)).toContain('Each client may send 600 requests a minute there');
    });

    it('gives the URLs for Heroku from the Ingress hosts', async () => {
      const text = await notes('-f', ALL_OPTIONS);
      for (const host of ['heroku-s3.example.com', 'heroku-s3.example.net']) {
        expect(text).toContain(`https://${host}/webhooks/heroku`);
        expect(text).toContain(`https://${host}/heroku/resources`);
      }
      expect(text).toContain('webhooks register --url https://heroku-s3.example.com/webhooks/heroku');
      expect(text).toContain('port-forward service/hs3 9090:9090');
      expect(text).toContain('curl -H "Authorization: Bearer $TOKEN" localhost:9090/metrics');
      expect(text).not.toContain('ingress.tls does not list');
    });
  });
});

describe('values.schema.json', () => {
  const refused = async (args: string[], path: string, why: RegExp) => {
    const result = await run(helm, ['template', RELEASE, CHART, ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema(s)");
    expect(result.stderr).toContain(`at '${path}'`);
    expect(result.stderr).toMatch(why);
  };

  it('refuses replicaCount 0', () => refused(['--set', 'replicaCount=0'], '/replicaCount', /minimum: got 0, want 1/));
  it('refuses a replicaCount that is not a number', () => refused(['--set-string', 'replicaCount=two'], '/replicaCount', /got string, want integer/));
  it('refuses an unknown GC mode', () => refused(['--set', 'config.gc.mode=maybe'], '/config/gc/mode', /must be one of 'enabled', 'dry-run', 'off'/));
  it('refuses an unknown log level', () => refused(['--set', 'config.logLevel=verbose'], '/config/logLevel', /must be one of/));
  it('refuses a bad duration', () => refused(['--set', 'config.requestTimeout=soon'], '/config/requestTimeout', /does not match pattern/));
  it('refuses a deletion ratio above 1', () => refused(['--set-json', 'config.gc.maxDeletionRatio=1.5'], '/config/gc/maxDeletionRatio', /maximum/));
  it('accepts a deletion ratio from --set (a string there)', async () => {
    expect(envOf(await template('--set', 'config.gc.maxDeletionRatio=0.3')).get('GC_MAX_DELETION_RATIO')?.value).toBe('0.3');
  });
  it('refuses a heap share above 90% of the memory limit', () => refused(['--set', 'heapPercentOfMemoryLimit=95'], '/heapPercentOfMemoryLimit', /maximum: got 95, want 90/));
  it('refuses a heap share that is not a whole number', () => refused(['--set-string', 'heapPercentOfMemoryLimit=half'], '/heapPercentOfMemoryLimit', /got string, want integer/));
  it('refuses a private port above 65535', () => refused(['--set', 'containerPort=70000'], '/containerPort', /maximum: got 70,000, want 65,535/));
  it('refuses a public port of 0', () => refused(['--set', 'publicContainerPort=0'], '/publicContainerPort', /minimum: got 0, want 1/));
  it('refuses a public port that is not a number', () => refused(['--set-string', 'publicContainerPort=https'], '/publicContainerPort', /got string, want integer/));
  it('refuses a public Service port that is not a number', () => refused(['--set-string', 'publicService.port=eighty'], '/publicService/port', /got string, want integer/));
  it('refuses exposing the private Service', () => refused(['--set', 'service.type=LoadBalancer'], '/service/type', /value must be 'ClusterIP'/));
  it('refuses an unknown public Service type', () => refused(['--set', 'publicService.type=ExternalName'], '/publicService/type', /must be one of/));
  it('refuses an enabled Ingress without a host', () => refused(['--set', 'ingress.enabled=true'], '/ingress/hosts', /minItems: got 0, want 1/));
  it('refuses an Ingress host given as a bare string', () =>
    refused(['--set', 'ingress.enabled=true', '--set', 'ingress.hosts[0]=hs3.example.com'], '/ingress/hosts/0', /got string, want object/));
  it('refuses Ingress paths (they are fixed)', () =>
    refused(['--set', 'ingress.enabled=true', '--set', 'ingress.hosts[0].host=a.example.com', '--set', 'ingress.hosts[0].paths[0]=/'], '/ingress/hosts/0', /additional properties 'paths' not allowed/));
  it('refuses an Ingress host that is not a DNS name', () =>
    refused(['--set', 'ingress.enabled=true', '--set', 'ingress.hosts[0].host=https://a.example.com'], '/ingress/hosts/0/host', /does not match pattern/));
  it('refuses ingress.enabled that is not a boolean', () => refused(['--set-string', 'ingress.enabled=yes'], '/ingress/enabled', /got string, want boolean/));
  it('refuses metrics.requireToken that is not a boolean', () => refused(['--set-string', 'metrics.requireToken=yes'], '/metrics/requireToken', /got string, want boolean/));
  it('refuses a TRUST_PROXY above 9', () => refused(['--set', 'config.trustProxy=10'], '/config/trustProxy', /maximum: got 10, want 9/));
  it('refuses a TRUST_PROXY that is not a number', () => refused(['--set-string', 'config.trustProxy=one'], '/config/trustProxy', /got string, want integer/));
  it('refuses a PUBLIC_RATE_LIMIT of 0', () => refused(['--set', 'config.publicRateLimit=0'], '/config/publicRateLimit', /minimum: got 0, want 1/));
  it('refuses a SESSION_TTL that is not a duration', () => refused(['--set', 'config.console.sessionTtl=a day'], '/config/console/sessionTtl', /does not match pattern/));
  it('refuses a console URL without its scheme', () => refused(['--set', 'config.console.url=s3-console.example.com'], '/config/console/url', /does not match pattern/));
  it('refuses a console URL with a query', () => refused(['--set', 'config.console.url=https://s3-console.example.com/?a=b'], '/config/console/url', /does not match pattern/));
  it('refuses an OAuth client id that is not a UUID', () => refused(['--set', 'config.console.herokuOauthId=S3 console'], '/config/console/herokuOauthId', /does not match pattern/));
  it('refuses a misspelt key', () => refused(['--set', 'replicacount=3'], '', /additional properties 'replicacount' not allowed/));
  it('refuses running as root', () => refused(['--set', 'securityContext.runAsNonRoot=false'], '/securityContext/runAsNonRoot', /value must be true/));
  it('refuses an unknown leader election mode', () => refused(['--set', 'leaderElection.mode=etcd'], '/leaderElection/mode', /must be one of 'kubernetes', 'postgres', 'none'/));
  it('refuses several replicas without leader election', () =>
    refused(['--set', 'leaderElection.mode=none'], '/replicaCount', /maximum: got 2, want 1/));
  it('accepts one replica without leader election, with neither Lease settings nor any rights', async () => {
    const objects = await template('--set', 'leaderElection.mode=none', '--set', 'replicaCount=1');
    const env = envOf(objects);
    expect(env.get('LEADER_ELECTION')?.value).toBe('none');
    expect([...env.keys()].filter((k) => k.startsWith('LEASE_'))).toEqual([]);
    expect(kinds(objects).filter((kind) => kind.startsWith('Role'))).toEqual([]);
  });
  it('elects through PostgreSQL with several replicas and no rights in the cluster', async () => {
    const objects = await template('--set', 'leaderElection.mode=postgres');
    const env = envOf(objects);
    expect(env.get('LEADER_ELECTION')?.value).toBe('postgres');
    expect(env.get('LEASE_NAME')?.value).toBe(FULLNAME);
    expect(env.has('LEASE_NAMESPACE')).toBe(false);
    // No Lease, so no events either: the controller gets no rights in the cluster.
    expect(kinds(objects).filter((kind) => kind.startsWith('Role'))).toEqual([]);
  });
});

describe('alert rules', () => {
  let groups: Obj[];
  let rulesFile: string;
  let unitRulesFile: string;
  let promtool: string;
  beforeAll(async () => {
    const objects = await template('--set', 'metrics.prometheusRule.enabled=true');
    groups = one(objects, 'PrometheusRule').spec.groups;
    rulesFile = path.join(tmp, 'rules.json');
    await writeFile(rulesFile, JSON.stringify({ groups }, null, 2)); // JSON is YAML
    // For `promtool test rules`, which compares annotations too: the same rules without them
    // (their templates are checked by `promtool check rules` on the real file).
    unitRulesFile = path.join(tmp, 'rules-without-annotations.json');
    const bare = groups.map((g) => ({ ...g, rules: (g.rules as Obj[]).map(({ annotations: _annotations, ...rule }) => rule) }));
    await writeFile(unitRulesFile, JSON.stringify({ groups: bare }, null, 2));
    promtool = await ensureTool('ensure-promtool.sh', 'promtool');
  }, 300_000);

  it('alerts on persistent drift, a tripped GC breaker, failing passes, stale syncs and a low Heroku budget', () => {
    const rules = groups.flatMap((g) => g.rules as Obj[]);
    const byName = Object.fromEntries(rules.map((r) => [r.alert as string, r]));
    expect(Object.keys(byName).sort()).toEqual([
      'HerokuS3ControllerDriftPersistent',
      'HerokuS3ControllerGcBreakerTripped',
      'HerokuS3ControllerHerokuBudgetLow',
      'HerokuS3ControllerReconcileFailing',
      'HerokuS3ControllerSyncStale',
    ]);
    expect(byName.HerokuS3ControllerDriftPersistent!.expr).toMatch(/heroku_s3_controller_drift_items\{[^}]*\}\) > 0/);
    expect(byName.HerokuS3ControllerDriftPersistent!.for).toBe('30m');
    expect(byName.HerokuS3ControllerGcBreakerTripped!.expr).toMatch(/heroku_s3_controller_gc_breaker_held_deletions\{[^}]*\}\) > 0/);
    expect(byName.HerokuS3ControllerReconcileFailing!.expr).toMatch(/increase\(heroku_s3_controller_reconcile_total\{result="failure"[^}]*\}\[15m\]\)\) > 0/);
    expect(byName.HerokuS3ControllerSyncStale!.expr).toMatch(/time\(\) - max by \(source\) \(heroku_s3_controller_last_successful_sync_timestamp_seconds\{[^}]*\}\) > 1800/);
    expect(byName.HerokuS3ControllerHerokuBudgetLow!.expr).toMatch(/heroku_s3_controller_heroku_rate_limit_remaining\{[^}]*\}\) < 500/);
    for (const rule of rules) {
      expect(rule.expr).toContain(`namespace="${NAMESPACE}", service="${FULLNAME}"`);
      expect(rule.labels.severity).toMatch(/^(warning|critical)$/);
      expect(rule.annotations.summary).toBeTruthy();
    }
  });

  it('names only metrics the controller exports (src/metrics/metrics.ts)', () => {
    const exported = exportedMetrics();
    expect(exported.size).toBeGreaterThan(5);
    const used = new Set(groups.flatMap((g) => (g.rules as Obj[]).flatMap((r) => [...(r.expr as string).matchAll(/heroku_s3_controller_[a-z0-9_]+/g)].map((m) => m[0]))));
    expect(used.size).toBe(5);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });

  it('passes promtool check rules', async () => {
    const result = await run(promtool, ['check', 'rules', rulesFile]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/SUCCESS: 5 rules found/);
  });

  it('fires when it should and not before (promtool test rules)', async () => {
    const sel = `namespace="${NAMESPACE}", service="${FULLNAME}", pod="p-1"`;
    const account = '111111111111';
    const test = {
      rule_files: [unitRulesFile],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            // Drift of one kind for 40 minutes; the other kind repaired after 10.
            { series: `heroku_s3_controller_drift_items{${sel}, account_id="${account}", kind="bucket_missing"}`, values: '1x40' },
            { series: `heroku_s3_controller_drift_items{${sel}, account_id="${account}", kind="key_missing"}`, values: '1x10 0x30' },
            // The breaker holds 3 teardowns from minute 5.
            { series: `heroku_s3_controller_gc_breaker_held_deletions{${sel}, account_id="${account}"}`, values: '0x4 3x36' },
            // One failed pass at minute 20.
            { series: `heroku_s3_controller_reconcile_total{${sel}, result="failure"}`, values: '0x19 1x21' },
            // Heroku read completely until minute 5, never again; AWS every minute.
            { series: `heroku_s3_controller_last_successful_sync_timestamp_seconds{${sel}, source="heroku"}`, values: '0+60x5 300x45' },
            { series: `heroku_s3_controller_last_successful_sync_timestamp_seconds{${sel}, source="aws"}`, values: '0+60x50' },
            // The budget drops below 500 at minute 10.
            { series: `heroku_s3_controller_heroku_rate_limit_remaining{${sel}}`, values: '4500x9 400x31' },
            // Another release's series never alert here.
            { series: `heroku_s3_controller_gc_breaker_held_deletions{namespace="other", service="x", account_id="${account}"}`, values: '9x40' },
          ],
          alert_rule_test: [
            { eval_time: '29m', alertname: 'HerokuS3ControllerDriftPersistent', exp_alerts: [] },
            { eval_time: '31m', alertname: 'HerokuS3ControllerDriftPersistent', exp_alerts: [{ exp_labels: { severity: 'warning', account_id: account, kind: 'bucket_missing' } }] },
            { eval_time: '4m', alertname: 'HerokuS3ControllerGcBreakerTripped', exp_alerts: [] },
            { eval_time: '7m', alertname: 'HerokuS3ControllerGcBreakerTripped', exp_alerts: [{ exp_labels: { severity: 'critical', account_id: account } }] },
            { eval_time: '19m', alertname: 'HerokuS3ControllerReconcileFailing', exp_alerts: [] },
            { eval_time: '21m', alertname: 'HerokuS3ControllerReconcileFailing', exp_alerts: [{ exp_labels: { severity: 'warning' } }] },
            { eval_time: '40m', alertname: 'HerokuS3ControllerReconcileFailing', exp_alerts: [] },
            { eval_time: '30m', alertname: 'HerokuS3ControllerSyncStale', exp_alerts: [] },
            { eval_time: '39m', alertname: 'HerokuS3ControllerSyncStale', exp_alerts: [] },
            { eval_time: '42m', alertname: 'HerokuS3ControllerSyncStale', exp_alerts: [{ exp_labels: { severity: 'critical', source: 'heroku' } }] },
            { eval_time: '15m', alertname: 'HerokuS3ControllerHerokuBudgetLow', exp_alerts: [] },
            { eval_time: '25m', alertname: 'HerokuS3ControllerHerokuBudgetLow', exp_alerts: [{ exp_labels: { severity: 'warning' } }] },
          ],
        },
      ],
    };
    const testFile = path.join(tmp, 'rules.test.json');
    await writeFile(testFile, JSON.stringify(test, null, 2));
    const result = await run(promtool, ['test', 'rules', testFile]);
    expect(result.stdout + result.stderr).toMatch(/SUCCESS/);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });
});
