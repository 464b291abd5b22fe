/**
 * The chart's rendered objects against the stand's real kube-apiserver: every object of the
 * default render and of the every-option render (both listeners' Services, the public Ingress) is
 * accepted by a server-side dry run (the ServiceMonitor, with its Bearer token authorization, and
 * the PrometheusRule against the Prometheus Operator's real CRD schemas, taken from its Go
 * module), and the Role really grants what the controller uses and nothing else (created for
 * real, then asked with SubjectAccessReviews).
 * Needs the stand's kube-apiserver (see test/support/global-setup.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ApiextensionsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { KUBE_WAIT_MS, kubeConfig, kubeStand, randomName } from '../support/stand.js';
import { CHART, ensureTool, run } from './support.js';

type Obj = KubernetesObject & Record<string, any>;

const ALL_OPTIONS = path.join(CHART, 'ci/all-options-values.yaml');
const MONITORING_CRDS = ['servicemonitors', 'prometheusrules'];

let helm: string;

beforeAll(async () => {
  const [helmPath, crdDir] = await Promise.all([
    ensureTool('ensure-helm.sh', 'helm'), // a cold `go install` of helm: ~10 min on 2 cores
    ensureTool('ensure-monitoring-crds.sh', 'the Prometheus Operator CRDs'),
    kubeStand(),
  ]);
  helm = helmPath;
  await installCrds(crdDir);
}, KUBE_WAIT_MS);

/** Creates the CRDs (cluster-wide, shared by every run on this stand) unless present; waits until served. */
async function installCrds(dir: string): Promise<void> {
  const api = kubeConfig().makeApiClient(ApiextensionsV1Api);
  for (const plural of MONITORING_CRDS) {
    const crd = loadAllYaml(readFileSync(path.join(dir, `monitoring.coreos.com_${plural}.yaml`), 'utf8'))[0] as V1CustomResourceDefinition;
    const name = crd.metadata!.name!;
    await api.createCustomResourceDefinition({ body: crd }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const current = await api.readCustomResourceDefinition({ name });
      if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established within 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function render(namespace: string, ...args: string[]): Promise<Obj[]> {
  const result = await run(helm, ['template', 't', CHART, '--namespace', namespace, ...args]);
  if (result.code !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return (loadAllYaml(result.stdout) as Obj[]).filter(Boolean).map((o) => JSON.parse(JSON.stringify(o)) as Obj);
}

async function namespaces(...names: string[]): Promise<void> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  for (const name of names) await core.createNamespace({ body: { metadata: { name } } });
}

/** Server-side dry run of every object; resolves to the failures, `Kind/name: message`. */
async function dryRun(objects: Obj[], namespace: string): Promise<string[]> {
  const client = KubernetesObjectApi.makeApiClient(kubeConfig());
  const failures: string[] = [];
  for (const object of objects) {
    // helm template leaves metadata.namespace off some objects; kubectl would default it likewise.
    const body = { ...object, metadata: { namespace, ...object.metadata } };
    await client.create(body, undefined, 'All').catch((e: { code?: number; body?: unknown; message?: string }) => {
      const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? e.message);
      failures.push(`${object.kind}/${object.metadata?.name}: ${e.code ?? ''} ${body}`);
    });
  }
  return failures;
}

describe('the rendered chart on a real kube-apiserver', () => {
  it('accepts every object of the default render (server-side dry run)', async () => {
    const ns = randomName('hsc');
    await namespaces(ns);
    const objects = await render(ns);
    expect(objects.map((o) => o.kind).sort()).toEqual(expect.arrayContaining(['Deployment', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']));
    expect(await dryRun(objects, ns)).toEqual([]);
  });

  it('accepts every object of the every-option render, ServiceMonitor and PrometheusRule included', async () => {
    const [ns, leases] = [randomName('hsc'), randomName('leases')];
    await namespaces(ns, leases);
    const objects = await render(ns, '-f', ALL_OPTIONS, '--set', `leaderElection.leaseNamespace=${leases}`);
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of ['ServiceMonitor', 'PrometheusRule', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Ingress']) expect(kinds, kind).toContain(kind);
    expect(objects.filter((o) => o.kind === 'Service')).toHaveLength(2);
    expect(await dryRun(objects, ns)).toEqual([]);
  });

  it('keeps the ServiceMonitor\'s Bearer token authorization (a field the CRD knows, not pruned)', async () => {
    const ns = randomName('hsc');
    await namespaces(ns);
    const monitor = (await render(ns, '-f', ALL_OPTIONS, '--set', `leaderElection.leaseNamespace=${ns}`)).find((o) => o.kind === 'ServiceMonitor')!;
    const authorization = { type: 'Bearer', credentials: { name: 'hs3-metrics-token', key: 'api-token' } };
    expect(monitor.spec.endpoints[0].authorization).toEqual(authorization);
    const client = KubernetesObjectApi.makeApiClient(kubeConfig());
    const created = (await client.create(monitor, undefined, 'All')) as Obj;
    expect(created.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics', authorization });
  });

  it('refuses an object the schema forbids, so the dry runs above can fail', async () => {
    const ns = randomName('hsc');
    await namespaces(ns);
    const rule = (await render(ns, '-f', ALL_OPTIONS, '--set', `leaderElection.leaseNamespace=${ns}`)).find((o) => o.kind === 'PrometheusRule')!;
    rule.spec.groups[0].rules[0].for = 'ten minutes'; // not a Prometheus duration
    const failures = await dryRun([rule], ns);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/PrometheusRule\/.*422/);
  });

  it('its Role grants the controller its own Lease (get, update; create) and events (create), nothing else', async () => {
    const ns = randomName('hsc');
    await namespaces(ns);
    const objects = await render(ns, '--set', 'leaderElection.mode=kubernetes');
    const client = KubernetesObjectApi.makeApiClient(kubeConfig());
    for (const object of objects.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind!))) {
      await client.create({ ...object, metadata: { namespace: ns, ...object.metadata } });
    }
    const account = objects.find((o) => o.kind === 'ServiceAccount')!.metadata!.name!;
    const lease = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].env.find((e: Obj) => e.name === 'LEASE_NAME').value as string;
    const authz = kubeConfig().makeApiClient(AuthorizationV1Api);
    const may = async (verb: string, group: string, resource: string, name?: string, namespace = ns) => {
      const review = await authz.createSubjectAccessReview({
        body: { spec: { user: `system:serviceaccount:${ns}:${account}`, resourceAttributes: { namespace, verb, group, resource, ...(name ? { name } : {}) } } },
      });
      return review.status?.allowed === true;
    };
    for (const verb of ['get', 'update']) expect(await may(verb, 'coordination.k8s.io', 'leases', lease), `${verb} lease ${lease}`).toBe(true);
    expect(await may('create', 'coordination.k8s.io', 'leases')).toBe(true); // create cannot be limited to a name
    expect(await may('create', '', 'events')).toBe(true);
    // Nothing beyond that: not another Lease, not other verbs, not secrets or pods, not other namespaces.
    expect(await may('update', 'coordination.k8s.io', 'leases', 'someone-elses-lease')).toBe(false);
    expect(await may('delete', 'coordination.k8s.io', 'leases', lease)).toBe(false);
    expect(await may('list', 'coordination.k8s.io', 'leases')).toBe(false);
    expect(await may('get', '', 'secrets')).toBe(false);
    expect(await may('list', '', 'secrets')).toBe(false);
    expect(await may('create', '', 'pods')).toBe(false);
    expect(await may('get', 'coordination.k8s.io', 'leases', lease, 'kube-system')).toBe(false);
  });
});
