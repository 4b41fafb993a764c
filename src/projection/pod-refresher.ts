// --refresh-mounted-pods: after a Secret's data changes, touch an annotation on every running pod
// that mounts it as a volume. The kubelet rewrites Secret volumes only on its periodic pod sync
// (a minute plus jitter by default); a pod update it sees (an annotation counts) syncs the pod at
// once, and that sync remounts its volumes from the kubelet's watch-fed Secret cache, so the new
// files appear a fraction of a second after the debounce window. Env consumers cannot change in a running container and are
// left alone (that is onRotation: RolloutRestart's job).
import type { Logger } from 'winston';
import { EventReason } from '../api/reasons.ts';
import { bindingEventSubject, type SecretBinding } from '../api/types.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { EventRecorder } from '../kube/events.ts';
import { isNotFound, KubeApiError, NotLeaderError, type KubeHttp } from '../runtime/http.ts';

/**
 * Pod annotation whose change makes the kubelet sync the pod. Its value is only the time of the
 * refresh: never a value, a hash of one or a key name (pod metadata is readable by far more
 * people than the Secret).
 */
export const SECRET_REFRESHED_AT_ANNOTATION = 'mlsecrets.io/secret-refreshed-at';

/** How a pod's patch went: the label of mlsecrets_pod_refreshes_total. */
export type PodRefreshOutcome = 'refreshed' | 'gone' | 'failed';

/** What the refresher reads of a pod. */
export interface MountingPod {
  metadata: { name?: string; namespace?: string; deletionTimestamp?: string };
  spec?: {
    volumes?: {
      name?: string;
      secret?: { secretName?: string };
      projected?: { sources?: { secret?: { name?: string } }[] };
    }[];
  };
  status?: { phase?: string };
}

export interface PodRefresherOptions {
  /** --refresh-mounted-pods. Off (the default), requests are ignored: no pod is listed or patched. */
  enabled: boolean;
  http: Pick<KubeHttp, 'request'>;
  clock: Clock;
  logger: Logger;
  events: EventRecorder;
  /** Told of every pod patched or not (a metric). */
  onOutcome?(outcome: PodRefreshOutcome): void;
  /**
   * Changes within this window cause one patch per pod. It also lets the kubelets' Secret
   * watches catch up with the write: a pod synced before its kubelet saw the new Secret would
   * remount the old data, and wait for the periodic sync after all.
   */
  debounceMs?: number;
  /** Pods per page of the namespace's pod list. */
  pageSize?: number;
  /** Patches in flight at once. */
  concurrency?: number;
}

/** The Secrets a pod mounts as volumes: `secret` volumes and `projected` sources. */
export function mountedSecrets(pod: MountingPod): Set<string> {
  const names = new Set<string>();
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.secret?.secretName) names.add(volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) {
      if (source.secret?.name) names.add(source.secret.name);
    }
  }
  return names;
}

/**
 * Whether a pod's kubelet would act on a refresh: it runs, and is not being deleted. A pending
 * pod mounts whatever the Secret holds when it starts; a finished one mounts nothing any more.
 */
export function refreshable(pod: MountingPod): boolean {
  return pod.status?.phase === 'Running' && !pod.metadata.deletionTimestamp;
}

/** A pod to patch, and the changed Secrets it mounts. */
interface Target {
  name: string;
  secrets: string[];
}

/**
 * Debounces data changes per namespace and Secret, then lists the namespace's running pods and
 * patches each one that mounts a changed Secret, once however many of them it mounts.
 * Only the leader asks (its reconcilers do), and it patches through the leader's client.
 */
export class PodRefresher {
  private readonly options: Required<Omit<PodRefresherOptions, 'onOutcome'>> & PodRefresherOptions;
  /** Namespace → changed Secret → its binding (for the Event). */
  private pending = new Map<string, Map<string, SecretBinding>>();
  private timer?: TimerHandle;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(options: PodRefresherOptions) {
    // Field by field: the operator passes `debounceMs: undefined` when it has no override, and a
    // spread would let that undefined replace the default (a timer of NaN ms fires at once).
    this.options = {
      ...options,
      debounceMs: options.debounceMs ?? 2_000,
      pageSize: options.pageSize ?? 500,
      concurrency: options.concurrency ?? 4,
    };
  }

  /** Asks for the pods mounting `secretName` (of `binding`, in its namespace) to be refreshed; debounced. */
  request(binding: SecretBinding, secretName: string): void {
    if (this.stopped || !this.options.enabled) return;
    const namespace = binding.metadata.namespace!;
    let secrets = this.pending.get(namespace);
    if (!secrets) this.pending.set(namespace, (secrets = new Map()));
    secrets.set(secretName, binding);
    if (this.timer) return;
    this.timer = this.options.clock.setTimer(() => {
      this.timer = undefined;
      const batch = this.pending;
      this.pending = new Map();
      // One batch at a time: a batch still patching when the next is due is not overtaken.
      this.running = this.running
        .then(() => this.refreshAll(batch))
        .catch((error: unknown) => {
          this.options.logger.warn('pod refresh failed', { error: errorText(error) });
        });
    }, this.options.debounceMs);
  }

  /** Stops taking requests and waits for the batch in progress (which stops between patches). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.pending.clear();
    await this.running;
  }

  /** Resolves once the batches started so far are done (tests). */
  idle(): Promise<void> {
    return this.running;
  }

  private async refreshAll(batch: Map<string, Map<string, SecretBinding>>): Promise<void> {
    for (const [namespace, secrets] of batch) {
      if (this.stopped) return;
      if (!(await this.refreshNamespace(namespace, secrets))) return;
    }
  }

  /** Refreshes one namespace's pods; false when this replica may no longer write (lost the Lease). */
  private async refreshNamespace(namespace: string, secrets: Map<string, SecretBinding>): Promise<boolean> {
    let targets: Target[];
    try {
      targets = await this.mountingPods(namespace, secrets);
    } catch (error) {
      this.options.onOutcome?.('failed');
      this.options.logger.warn('pod refresh: could not list pods', { namespace, error: errorText(error) });
      return true;
    }
    const at = new Date(this.options.clock.now()).toISOString();
    const refreshed: Target[] = [];
    let lostLease = false;
    const queue = [...targets];
    const worker = async () => {
      for (let target = queue.shift(); target; target = queue.shift()) {
        if (this.stopped || lostLease) return;
        const outcome = await this.patch(namespace, target.name, at);
        if (outcome === 'notLeader') {
          lostLease = true;
          return;
        }
        this.options.onOutcome?.(outcome);
        if (outcome === 'refreshed') refreshed.push(target);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, queue.length) }, worker));
    if (lostLease) {
      this.options.logger.info('pod refresh stopped: this replica no longer holds the leader Lease', {
        namespace,
      });
    }
    this.report(namespace, secrets, refreshed);
    return !lostLease;
  }

  /**
   * The namespace's running pods that mount one of `secrets`, from a paged LIST at refresh time.
   * Not the operator's pod cache: that one holds only pods the webhook injected into, and only
   * their metadata (it is kept lean for memory), while a pod may mount a managed Secret by
   * reference without the webhook. Caching every pod's spec in every namespace would cost memory
   * whether or not this option is on; one LIST per namespace per debounce window costs far less.
   */
  private async mountingPods(namespace: string, secrets: Map<string, SecretBinding>): Promise<Target[]> {
    const targets: Target[] = [];
    let continueToken: string | undefined;
    do {
      const page = await this.options.http.request<{
        metadata?: { continue?: string };
        items: MountingPod[];
      }>('GET', `/api/v1/namespaces/${namespace}/pods`, {
        // The API server drops the pods that are not running; refreshable() checks again.
        query: {
          fieldSelector: 'status.phase=Running',
          limit: this.options.pageSize,
          continue: continueToken,
        },
      });
      for (const pod of page.items) {
        if (pod.metadata.namespace !== namespace || !pod.metadata.name || !refreshable(pod)) continue;
        const mounted = [...mountedSecrets(pod)].filter((name) => secrets.has(name));
        if (mounted.length > 0) targets.push({ name: pod.metadata.name, secrets: mounted });
      }
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return targets;
  }

  /** One merge patch of the pod's annotations: nothing else of the pod is touched. */
  private async patch(namespace: string, name: string, at: string): Promise<PodRefreshOutcome | 'notLeader'> {
    try {
      await this.options.http.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}`, {
        body: { metadata: { annotations: { [SECRET_REFRESHED_AT_ANNOTATION]: at } } },
        contentType: 'application/merge-patch+json',
        discardResponse: true,
      });
      return 'refreshed';
    } catch (error) {
      // Deleted since the list: nothing left to refresh.
      if (isNotFound(error)) return 'gone';
      if (error instanceof NotLeaderError) return 'notLeader';
      this.options.logger.warn('pod refresh: could not patch pod', {
        pod: `${namespace}/${name}`,
        error: errorText(error),
      });
      return 'failed';
    }
  }

  /** One Normal Event per binding whose pods were refreshed, with counts only. */
  private report(namespace: string, secrets: Map<string, SecretBinding>, refreshed: Target[]): void {
    const byBinding = new Map<string, { binding: SecretBinding; pods: number; secrets: Set<string> }>();
    for (const target of refreshed) {
      const counted = new Set<string>();
      for (const secret of target.secrets) {
        const binding = secrets.get(secret)!;
        const uid = binding.metadata.uid!;
        let entry = byBinding.get(uid);
        if (!entry) byBinding.set(uid, (entry = { binding, pods: 0, secrets: new Set() }));
        entry.secrets.add(secret);
        // A pod mounting two Secrets of one binding is one pod refreshed.
        if (!counted.has(uid)) entry.pods++;
        counted.add(uid);
      }
    }
    for (const { binding, pods, secrets: names } of byBinding.values()) {
      const podCount = `${pods} pod${pods === 1 ? '' : 's'}`;
      const message =
        names.size === 1
          ? `${podCount} mounting Secret "${[...names][0]}" refreshed to load its new data`
          : `${podCount} mounting ${names.size} Secrets of this binding refreshed to load their new data`;
      this.options.events.emit(
        bindingEventSubject(binding, namespace),
        'Normal',
        EventReason.PodsRefreshed,
        message,
      );
      this.options.logger.info('pods refreshed', { namespace, binding: binding.metadata.name, pods });
    }
  }
}

/**
 * An API error's status, reason and message, or an error's name and message. What failed is a
 * list of pods or a patch carrying only a time, so the text holds no Secret data.
 */
function errorText(error: unknown): string {
  if (error instanceof KubeApiError) return `${error.status} ${error.reason}: ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
