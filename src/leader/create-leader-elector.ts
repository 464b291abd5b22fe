/**
 * Builds the configured {@link LeaderElector}. The settings come from the config module (the
 * environment is read there only); this file only chooses and wires.
 */
import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../util/log.js';
import { KubernetesLeaseElector, defaultKubeConfig, kubernetesLeaseClient } from './kubernetes-lease.js';
import { kubernetesLeaseEvents } from './lease-events.js';
import { SoleLeader, type LeaderElector, type LeaderTimings } from './leader-election.js';
import { PostgresAdvisoryLockElector } from './postgres-advisory-lock.js';

export type LeaderElectionMode = 'kubernetes' | 'postgres' | 'none';

export interface LeaderElectionSettings {
  /**
   * kubernetes: a coordination.k8s.io Lease (in-cluster service account, else the kubeconfig);
   * postgres: an advisory lock on DATABASE_URL's database; none: this process always leads.
   */
  mode: LeaderElectionMode;
  /** Unique per process among the contenders. */
  identity: string;
  /** Name of the Lease, or of the advisory lock. */
  leaseName: string;
  /** Namespace of the Lease; null: the pod's own namespace (service-account file), else `default`. */
  leaseNamespace: string | null;
  timings: LeaderTimings;
}

export interface LeaderElectorDeps {
  databaseUrl: string | null;
  logger?: Logger;
  /** Kubernetes only; default: in-cluster config, else $KUBECONFIG / ~/.kube/config. */
  kubeConfig?: KubeConfig;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The pod's own namespace, from its service-account mount; null outside a pod. */
export function inClusterNamespace(file = SERVICE_ACCOUNT_NAMESPACE): string | null {
  try {
    return readFileSync(file, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export function createLeaderElector(settings: LeaderElectionSettings, deps: LeaderElectorDeps): LeaderElector {
  const logger = deps.logger;
  switch (settings.mode) {
    case 'none':
      return new SoleLeader(settings.identity);
    case 'postgres':
      if (!deps.databaseUrl) {
        throw new Error('leader election through PostgreSQL needs DATABASE_URL (the embedded database serves one process only)');
      }
      return new PostgresAdvisoryLockElector({
        databaseUrl: deps.databaseUrl,
        lockName: settings.leaseName,
        identity: settings.identity,
        renewDeadlineMs: settings.timings.renewDeadlineMs,
        retryPeriodMs: settings.timings.retryPeriodMs,
        ...(logger ? { logger } : {}),
      });
    case 'kubernetes': {
      const namespace = settings.leaseNamespace ?? inClusterNamespace() ?? 'default';
      const kubeConfig = deps.kubeConfig ?? defaultKubeConfig();
      return new KubernetesLeaseElector({
        client: kubernetesLeaseClient({
          namespace,
          name: settings.leaseName,
          labels: { 'app.kubernetes.io/name': 'heroku-s3-controller' },
          kubeConfig,
        }),
        events: kubernetesLeaseEvents({ kubeConfig, namespace, name: settings.leaseName, identity: settings.identity, logger }),
        identity: settings.identity,
        leaseRef: `Lease ${namespace}/${settings.leaseName}`,
        ...settings.timings,
        ...(logger ? { logger } : {}),
      });
    }
  }
}
