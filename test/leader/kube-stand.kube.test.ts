/** The stand's kube-apiserver itself: what other tests (leases, rendered Helm objects) rely on. */
import { beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { KUBE_WAIT_MS, kubeApiserver, kubeConfig, kubeStand, randomName } from '../support/stand.js';

beforeAll(kubeStand, KUBE_WAIT_MS);

describe('test stand: kube-apiserver', () => {
  it('answers on loopback over TLS, with the version it was built as', async () => {
    const kube = kubeApiserver();
    expect(kube.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const version = await kubeConfig().makeApiClient(VersionApi).getCode();
    expect(`${version.gitVersion}`).toBe(kube.version);
    expect(version.major).toBe('1');
  });

  it('has the system namespaces, and stores objects in etcd', async () => {
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
    expect(names).toEqual(expect.arrayContaining(['default', 'kube-system']));
    const ns = randomName('ns');
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'c' }, data: { k: 'v' } } });
    expect((await core.readNamespacedConfigMap({ name: 'c', namespace: ns })).data).toEqual({ k: 'v' });
  });

  it('its kubeconfig file works (for kubectl or helm)', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeApiserver().kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    expect((await core.readNamespace({ name: 'default' })).metadata?.name).toBe('default');
  });

  it('enforces RBAC: the unprivileged user may not list namespaces', async () => {
    const core = kubeConfig('user').makeApiClient(CoreV1Api);
    await expect(core.listNamespace()).rejects.toMatchObject({ code: 403 });
  });
});
