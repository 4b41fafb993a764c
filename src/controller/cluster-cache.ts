// The operator's view of the cluster: one informer cache per kind and watched namespace, and
// the questions the reconcilers ask of them (docs/architecture.md, "How a reconcile flows").
// Reads only: nothing here calls the API once the informers have listed.
import type { Logger } from 'winston';
import { DEFAULT_WORKLOAD_KINDS } from '../api/defaults.ts';
import {
  BINDING_ANNOTATION,
  INJECTED_ANNOTATION,
  INJECTED_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
} from '../api/labels.ts';
import { selectorMatches, projectionSelector } from '../api/selectors.ts';
import type { SecretBinding, Store, StoreKind } from '../api/types.ts';
import { collectionPath, type SecretObject } from '../kube/kube-client.ts';
import { systemClock } from '../runtime/clock.ts';
import type { KubeHttp } from '../runtime/http.ts';
import { Informer, type InformerHealth, type InformerOptions, type KubeObject } from '../runtime/informer.ts';
import type { BindingCache } from './binding/deps.ts';
import type { Workload } from './binding/deps.ts';

export interface ClusterCacheOptions {
  http: KubeHttp;
  logger: Logger;
  /** Watch only these namespaces (ClusterSecretStores are always watched). Absent: all. */
  namespaces?: string[];
  /** Owner kinds whose pods PerWorkload bindings scope to the owner. */
  workloadKinds?: string[];
  /** A watch silent for this long is restarted (bookmarks arrive about every minute). */
  silenceLimitMs?: number;
}

export class ClusterCache implements BindingCache {
  private readonly options: ClusterCacheOptions;
  readonly bindingInformers = new Map<string, Informer<SecretBinding & KubeObject>>();
  readonly storeInformers = new Map<string, Informer<Store & KubeObject>>();
  readonly clusterStores: Informer<Store & KubeObject>;
  readonly secretInformers = new Map<string, Informer<SecretObject>>();
  /** Names of the Secrets mlsecrets does not manage (metadata only): see unmanagedSecretExists. */
  readonly unmanagedSecretInformers = new Map<string, Informer<KubeObject>>();
  /** Pods the webhook injected into (labelled), to count them and find their workloads. */
  readonly podInformers = new Map<string, Informer<InjectedPod>>();
  /** Jobs, for PerWorkload bindings: a Secret per running Job, revoked when it ends. */
  readonly jobInformers = new Map<string, Informer<LeanJob>>();
  /** Namespace labels, for ClusterSecretStore namespaceSelectors. */
  readonly namespaces: Informer<KubeObject>;
  private readonly workloadKinds: string[];

  constructor(options: ClusterCacheOptions) {
    this.options = options;
    const scopes = options.namespaces?.length ? options.namespaces : [''];
    for (const ns of scopes) {
      const namespace = ns || undefined;
      const seeingWrites = bindingWriteInformers(ns);
      this.bindingInformers.set(ns, this.informer(seeingWrites.bindings));
      this.storeInformers.set(
        ns,
        this.informer({
          name: `secretstores${ns ? `@${ns}` : ''}`,
          path: collectionPath('SecretStore', namespace),
        }),
      );
      this.secretInformers.set(ns, this.informer(seeingWrites.managedSecrets));
      this.unmanagedSecretInformers.set(ns, this.informer(seeingWrites.unmanagedSecrets));
    }
    this.workloadKinds = options.workloadKinds ?? DEFAULT_WORKLOAD_KINDS;
    for (const ns of scopes) {
      const jobsPath = ns ? `/apis/batch/v1/namespaces/${ns}/jobs` : '/apis/batch/v1/jobs';
      this.jobInformers.set(
        ns,
        this.informer<LeanJob>({ name: `jobs${ns ? `@${ns}` : ''}`, path: jobsPath, transform: leanJob }),
      );
    }
    for (const ns of scopes) {
      const podsPath = ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods';
      this.podInformers.set(
        ns,
        this.informer<InjectedPod>({
          name: `injected-pods${ns ? `@${ns}` : ''}`,
          path: podsPath,
          labelSelector: `${INJECTED_LABEL}=true`,
          transform: leanPod,
        }),
      );
    }
    this.clusterStores = this.informer({
      name: 'clustersecretstores',
      path: collectionPath('ClusterSecretStore'),
    });
    this.namespaces = this.informer<KubeObject>({
      name: 'namespaces',
      path: '/api/v1/namespaces',
      transform: (ns) => ({
        metadata: {
          name: ns.metadata.name,
          uid: ns.metadata.uid,
          resourceVersion: ns.metadata.resourceVersion,
          labels: ns.metadata.labels,
        },
      }),
    });
  }

  /** Starts the informers and waits for their first lists. */
  async start(): Promise<void> {
    await Promise.all(this.allInformers().map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.allInformers().map((i) => i.stop()));
  }

  health(): InformerHealth[] {
    return this.allInformers().map((i) => i.status());
  }

  /** Every informer, for health checks and tests that stop one by force. */
  allInformers(): Informer<KubeObject>[] {
    return [
      ...this.bindingInformers.values(),
      ...this.storeInformers.values(),
      ...this.secretInformers.values(),
      ...this.unmanagedSecretInformers.values(),
      ...this.podInformers.values(),
      ...this.jobInformers.values(),
      this.clusterStores,
      this.namespaces,
    ] as Informer<KubeObject>[];
  }

  getBinding(key: string): SecretBinding | undefined {
    const namespace = key.slice(0, key.indexOf('/'));
    return this.scoped(this.bindingInformers, namespace)?.get(key);
  }

  bindings(): SecretBinding[] {
    return [...this.bindingInformers.values()].flatMap((i) => i.list());
  }

  /** Bindings of one namespace; undefined when this operator does not watch it. */
  bindingsIn(namespace: string): SecretBinding[] | undefined {
    const informer = this.scoped(this.bindingInformers, namespace);
    if (!informer) return undefined;
    return informer.list().filter((b) => b.metadata.namespace === namespace);
  }

  getStore(kind: StoreKind, namespace: string | undefined, name: string): Store | undefined {
    if (kind === 'ClusterSecretStore') return this.clusterStores.get(name);
    return this.scoped(this.storeInformers, namespace ?? '')?.get(`${namespace}/${name}`);
  }

  getManagedSecret(namespace: string, name: string): SecretObject | undefined {
    return this.scoped(this.secretInformers, namespace)?.get(`${namespace}/${name}`);
  }

  /**
   * Whether a Secret by this name exists without the managed-by label: someone else's Secret,
   * or ours with its labels stripped. A new binding's reconcile asks this instead of the API
   * server, whose answer (from its watch cache) would be no fresher.
   */
  unmanagedSecretExists(namespace: string, name: string): boolean {
    return this.scoped(this.unmanagedSecretInformers, namespace)?.get(`${namespace}/${name}`) !== undefined;
  }

  /** Every managed Secret in the cache (for the expiry metric). */
  managedSecrets(): SecretObject[] {
    return [...this.secretInformers.values()].flatMap((i) => i.list());
  }

  /** Managed Secrets of one namespace, or of all watched namespaces (the access audit's list reads). */
  managedSecretsIn(namespace?: string): SecretObject[] {
    if (namespace === undefined) return this.managedSecrets();
    return (this.scoped(this.secretInformers, namespace)?.list() ?? []).filter(
      (s) => s.metadata.namespace === namespace,
    );
  }

  /** The store a binding names, if it exists. */
  storeOf(binding: SecretBinding): Store | undefined {
    const ref = binding.spec.storeRef;
    return this.getStore(ref.kind ?? 'SecretStore', binding.metadata.namespace, ref.name);
  }

  managedSecretsOf(namespace: string, bindingName: string): SecretObject[] {
    const informer = this.scoped(this.secretInformers, namespace);
    return (informer?.list() ?? []).filter(
      (s) =>
        s.metadata.namespace === namespace && s.metadata.annotations?.[BINDING_ANNOTATION] === bindingName,
    );
  }

  /**
   * The workloads a PerWorkload binding serves: Jobs whose pod template it selects, and the
   * workloads (listed owner kinds, or bare pods) of pods the webhook injected it into.
   */
  workloadsFor(binding: SecretBinding): Workload[] {
    const namespace = binding.metadata.namespace!;
    const selector = projectionSelector(binding);
    const found = new Map<string, Workload>();
    for (const job of this.scoped(this.jobInformers, namespace)?.list() ?? []) {
      if (job.metadata.namespace !== namespace || job.metadata.deletionTimestamp) continue;
      if (!selectorMatches(selector, job.spec?.template?.metadata?.labels ?? {})) continue;
      found.set(job.metadata.uid!, {
        apiVersion: 'batch/v1',
        kind: 'Job',
        name: job.metadata.name!,
        uid: job.metadata.uid!,
        ended: jobEnded(job),
      });
    }
    const pods = (this.scoped(this.podInformers, namespace)?.list() ?? []).filter(
      (p) =>
        p.metadata.namespace === namespace &&
        (p.metadata.annotations?.[INJECTED_ANNOTATION] ?? '').split(',').includes(binding.metadata.name!),
    );
    for (const pod of pods) {
      const owner = (pod.metadata.ownerReferences ?? []).find((o) => o.controller);
      if (owner && this.workloadKinds.includes(owner.kind)) {
        if (found.has(owner.uid)) continue;
        // A workload of another kind ends when none of its injected pods is running any more.
        const siblings = pods.filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === owner.uid));
        const running = siblings.some((p) => !isFinished(p));
        found.set(owner.uid, {
          apiVersion: owner.apiVersion,
          kind: owner.kind,
          name: owner.name,
          uid: owner.uid,
          ended: running ? undefined : 'has no running pods',
        });
      } else if (!owner) {
        const ended = pod.metadata.deletionTimestamp
          ? 'is being deleted'
          : isFinished(pod)
            ? `has ${pod.status?.phase?.toLowerCase()}`
            : undefined;
        found.set(pod.metadata.uid!, {
          apiVersion: 'v1',
          kind: 'Pod',
          name: pod.metadata.name!,
          uid: pod.metadata.uid!,
          ended,
        });
      }
    }
    return [...found.values()];
  }

  namespaceLabels(namespace: string): Record<string, string> | undefined {
    return this.namespaces.get(namespace)?.metadata.labels;
  }

  projectedPodCount(namespace: string, bindingName: string): number {
    return this.projectedPods(namespace, bindingName).length;
  }

  /** Running pods that carry a binding (injected by the webhook). */
  projectedPods(namespace: string, bindingName: string): InjectedPod[] {
    const informer = this.scoped(this.podInformers, namespace);
    return (informer?.list() ?? []).filter(
      (p) =>
        p.metadata.namespace === namespace &&
        !p.metadata.deletionTimestamp &&
        p.status?.phase !== 'Succeeded' &&
        p.status?.phase !== 'Failed' &&
        (p.metadata.annotations?.[INJECTED_ANNOTATION] ?? '').split(',').includes(bindingName),
    );
  }

  private scoped<T extends KubeObject>(
    informers: Map<string, Informer<T>>,
    namespace: string,
  ): Informer<T> | undefined {
    return informers.get(namespace) ?? informers.get('');
  }

  private informer<T extends KubeObject>(spec: InformerSpec<T>): Informer<T> {
    return new Informer<T>({
      ...spec,
      http: this.options.http,
      // Watches live in real time whatever clock schedules the work: a manual clock in a test
      // must not stall a watch's backoff or trip its watchdog.
      clock: systemClock,
      logger: this.options.logger,
      silenceLimitMs: this.options.silenceLimitMs,
    });
  }
}

/** What the operator keeps of an injected pod: metadata and phase, not its spec. */
export interface InjectedPod extends KubeObject {
  status?: { phase?: string };
}

/** What the operator keeps of a Job: identity, pod template labels, and whether it ended. */
export interface LeanJob extends KubeObject {
  spec?: { template?: { metadata?: { labels?: Record<string, string> } } };
  status?: { conditions?: { type: string; status: string }[] };
}

/** What an informer is built from, less what all of the cache's share (connection, clock, logger). */
export type InformerSpec<T extends KubeObject> = Pick<
  InformerOptions<T>,
  'name' | 'path' | 'labelSelector' | 'metadataOnly' | 'transform'
>;

/**
 * The informers of one watched namespace ('' for all) that a binding's sync writes reach: the
 * bindings (created, then the status patch), the managed Secrets (full: drift is checked by
 * the data's hash) and the names of the other Secrets (see unmanagedSecretExists). Exported for
 * the benchmark, whose floor runs the same watches (bench/floor.ts).
 */
export function bindingWriteInformers(ns: string): {
  bindings: InformerSpec<SecretBinding & KubeObject>;
  managedSecrets: InformerSpec<SecretObject>;
  unmanagedSecrets: InformerSpec<KubeObject>;
} {
  const namespace = ns || undefined;
  const at = ns ? `@${ns}` : '';
  return {
    bindings: { name: `secretbindings${at}`, path: collectionPath('SecretBinding', namespace) },
    managedSecrets: {
      name: `managed-secrets${at}`,
      path: collectionPath('Secret', namespace),
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    },
    unmanagedSecrets: {
      name: `unmanaged-secrets${at}`,
      path: collectionPath('Secret', namespace),
      labelSelector: `${MANAGED_BY_LABEL}!=${MANAGED_BY_VALUE}`,
      metadataOnly: true,
      transform: nameOnly,
    },
  };
}

/** An unmanaged Secret's cache entry: its name and version, nothing of its content or labels. */
function nameOnly(secret: KubeObject): KubeObject {
  const { name, namespace, resourceVersion } = secret.metadata;
  return { metadata: { name, namespace, resourceVersion } };
}

function leanJob(job: LeanJob): LeanJob {
  const { name, namespace, uid, resourceVersion, labels, deletionTimestamp } = job.metadata;
  return {
    metadata: { name, namespace, uid, resourceVersion, labels, deletionTimestamp },
    spec: { template: { metadata: { labels: job.spec?.template?.metadata?.labels } } },
    status: { conditions: (job.status?.conditions ?? []).map(({ type, status }) => ({ type, status })) },
  };
}

/** "completed" or "failed" once the Job's terminal condition is True. */
export function jobEnded(job: LeanJob): string | undefined {
  const conditions = job.status?.conditions ?? [];
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return 'completed';
  if (conditions.some((c) => c.type === 'Failed' && c.status === 'True')) return 'failed';
  return undefined;
}

function isFinished(pod: InjectedPod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function leanPod(pod: InjectedPod): InjectedPod {
  const { name, namespace, uid, resourceVersion, labels, annotations, ownerReferences, deletionTimestamp } =
    pod.metadata;
  return {
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      labels,
      annotations,
      ownerReferences,
      deletionTimestamp,
    },
    status: { phase: pod.status?.phase },
  };
}
