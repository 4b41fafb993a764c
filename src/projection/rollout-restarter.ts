// onRotation: RolloutRestart — after a Secret's data changes, restart the Deployments and
// StatefulSets that consume it, one at a time, so env consumers pick the new values up.
// Jobs are never touched: a running training Job keeps the Secret it started with.
import type { Logger } from 'winston';
import { EventReason } from '../api/reasons.ts';
import { bindingEventSubject, type SecretBinding } from '../api/types.ts';
import { pause, type Clock, type TimerHandle } from '../runtime/clock.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { KubeHttp } from '../runtime/http.ts';
import { projectionSelector, selectorMatches } from '../api/selectors.ts';
import { referencesSecret, type SecretReferences } from './pod.ts';

/** Pod-template annotation whose change makes Kubernetes roll the workload (as kubectl rollout restart does). */
export const RESTARTED_AT_ANNOTATION = 'mlsecrets.io/restartedAt';

interface Workload {
  metadata: { name: string; namespace: string; generation?: number };
  spec: {
    replicas?: number;
    template: { metadata?: { labels?: Record<string, string> }; spec?: PodTemplateSpec };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    readyReplicas?: number;
  };
}

type PodTemplateSpec = SecretReferences;

export interface RolloutRestarterOptions {
  http: KubeHttp;
  clock: Clock;
  logger: Logger;
  events: EventRecorder;
  /** Changes within this window cause one restart. */
  debounceMs?: number;
  /** How long to wait for one workload's rollout before moving on to the next. */
  rolloutTimeoutMs?: number;
  pollMs?: number;
}

/** Whether a pod template uses the Secret: by reference, or through the webhook (its labels select the binding). */
export function consumes(
  template: Workload['spec']['template'],
  secretName: string,
  binding: SecretBinding,
): boolean {
  if (selectorMatches(projectionSelector(binding), template.metadata?.labels ?? {})) return true;
  return referencesSecret(template.spec ?? {}, secretName);
}

export class RolloutRestarter {
  private readonly options: Required<Omit<RolloutRestarterOptions, 'http' | 'clock' | 'logger' | 'events'>> &
    RolloutRestarterOptions;
  private readonly pending = new Map<string, { binding: SecretBinding; secretName: string }>();
  private timer?: TimerHandle;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Ends the current poll pause at once (set only while one is pending). */
  private wake?: () => void;

  constructor(options: RolloutRestarterOptions) {
    // Field by field: a caller passing its own optional setting through as undefined keeps the default.
    this.options = {
      ...options,
      debounceMs: options.debounceMs ?? 10_000,
      rolloutTimeoutMs: options.rolloutTimeoutMs ?? 10 * 60_000,
      pollMs: options.pollMs ?? 2_000,
    };
  }

  /** Asks for a restart of the binding's consumers; debounced. */
  request(binding: SecretBinding, secretName: string): void {
    if (this.stopped) return;
    this.pending.set(`${binding.metadata.namespace}/${binding.metadata.name}`, { binding, secretName });
    if (this.timer) return;
    this.timer = this.options.clock.setTimer(() => {
      this.timer = undefined;
      const batch = [...this.pending.values()];
      this.pending.clear();
      // One restart at a time, across bindings too.
      this.running = this.running
        .then(() => this.restartAll(batch))
        .catch((error: unknown) => {
          this.options.logger.warn('rollout restart failed', { error: (error as Error)?.message });
        });
    }, this.options.debounceMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.clock.clearTimer(this.timer);
    // A poll pause on a clock that may never move again (a ManualClock) must not hold stop().
    this.wake?.();
    await this.running;
  }

  private async restartAll(batch: { binding: SecretBinding; secretName: string }[]): Promise<void> {
    for (const { binding, secretName } of batch) {
      const namespace = binding.metadata.namespace!;
      for (const resource of ['deployments', 'statefulsets'] as const) {
        const list = await this.options.http.request<{ items: Workload[] }>(
          'GET',
          `/apis/apps/v1/namespaces/${namespace}/${resource}`,
        );
        for (const workload of list.items.filter((w) => consumes(w.spec.template, secretName, binding))) {
          if (this.stopped) return;
          await this.restart(resource, workload, binding, secretName);
        }
      }
    }
  }

  private async restart(
    resource: 'deployments' | 'statefulsets',
    workload: Workload,
    binding: SecretBinding,
    secretName: string,
  ) {
    const { namespace, name } = workload.metadata;
    const path = `/apis/apps/v1/namespaces/${namespace}/${resource}/${name}`;
    const at = new Date(this.options.clock.now()).toISOString();
    const patched = await this.options.http.request<Workload>('PATCH', path, {
      body: { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: at } } } } },
      contentType: 'application/merge-patch+json',
    });
    const kind = resource === 'deployments' ? 'Deployment' : 'StatefulSet';
    this.options.events.emit(
      bindingEventSubject(binding, namespace),
      'Normal',
      EventReason.Rotated,
      `${kind} "${name}" restarted to load the new data of Secret "${secretName}"`,
    );
    this.options.logger.info('rollout restart', {
      workload: `${kind}/${namespace}/${name}`,
      binding: binding.metadata.name,
    });
    await this.waitForRollout(path, patched.metadata.generation ?? 0);
  }

  /** Waits until the rollout is available, or the timeout passes (a stuck rollout must not hold the others forever). */
  private async waitForRollout(path: string, generation: number): Promise<void> {
    const { clock } = this.options;
    const deadline = clock.now() + this.options.rolloutTimeoutMs;
    while (!this.stopped && clock.now() < deadline) {
      const current = await this.options.http.request<Workload>('GET', path);
      const status = current.status ?? {};
      const wanted = current.spec.replicas ?? 1;
      if (
        (status.observedGeneration ?? 0) >= generation &&
        (status.updatedReplicas ?? 0) >= wanted &&
        (status.availableReplicas ?? status.readyReplicas ?? 0) >= wanted
      ) {
        return;
      }
      await this.sleep(this.options.pollMs);
    }
  }

  /** The pause between polls, on the injected clock; stop() cuts it short. */
  private sleep(ms: number): Promise<void> {
    const current = pause(this.options.clock, ms);
    this.wake = current.cut;
    return current.done;
  }
}
