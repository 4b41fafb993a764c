// Which bindings a new pod receives, and the JSON patch that gives them to it. Pure: the
// webhook server feeds it the pod and the bindings of the pod's namespace.
import { INJECTED_ANNOTATION, INJECTED_LABEL } from '../api/labels.ts';
import { DEFAULT_WORKLOAD_KINDS, perWorkloadSecretName, targetName } from '../api/defaults.ts';
import type { SecretBinding } from '../api/types.ts';
import { projectionSelector, selectorMatches } from '../api/selectors.ts';
import type { PodLike } from './pod.ts';
import { checkRequirements } from './attestation.ts';

/** One binding's outcome for a pod. */
export type Injection =
  | { binding: SecretBinding; injected: true; secretName: string; workload?: { kind: string; name: string } }
  | { binding: SecretBinding; injected: false; deny: boolean; reason: string };

/** JSON Patch operations (RFC 6902), as AdmissionReview responses carry them. */
export type PatchOperation = { op: 'add' | 'replace'; path: string; value: unknown };

/** The workload a PerWorkload Secret belongs to: the pod's controlling Job (or listed kind), else the pod. */
export function workloadOf(
  pod: PodLike,
  workloadKinds: string[],
): { kind: string; name: string } | undefined {
  const owner = (pod.metadata.ownerReferences ?? []).find((o) => o.controller);
  if (owner && workloadKinds.includes(owner.kind)) return { kind: owner.kind, name: owner.name };
  if (!owner && pod.metadata.name) return { kind: 'Pod', name: pod.metadata.name };
  return undefined;
}

/** Decides every binding of the namespace for this pod. */
export function decideInjections(
  pod: PodLike,
  bindings: SecretBinding[],
  workloadKinds = DEFAULT_WORKLOAD_KINDS,
): Injection[] {
  const labels = pod.metadata.labels ?? {};
  const out: Injection[] = [];
  for (const binding of bindings) {
    if (!selectorMatches(projectionSelector(binding), labels)) continue;
    const projection = binding.spec.projection ?? {};
    const deny = projection.requirements?.enforcement === 'Deny';
    const failed = checkRequirements(pod, projection.requirements);
    if (failed) {
      out.push({ binding, injected: false, deny, reason: failed });
      continue;
    }
    if (projection.scope === 'PerWorkload') {
      const workload = workloadOf(pod, workloadKinds);
      if (!workload) {
        out.push({
          binding,
          injected: false,
          deny,
          reason:
            'PerWorkload scope needs a pod owned by a Job (or a listed workload kind) or a pod with a fixed name',
        });
        continue;
      }
      out.push({ binding, injected: true, secretName: perWorkloadSecretName(binding, workload), workload });
    } else {
      out.push({ binding, injected: true, secretName: targetName(binding) });
    }
  }
  return out;
}

/**
 * The patch that adds the injected Secrets: a read-only secret volume mounted in every
 * container and init container (`as: volume`), or an `envFrom` (`as: env`), plus the
 * annotation and label that record it. Idempotent: what the pod already has is not added again.
 */
export function podPatch(pod: PodLike, injections: Injection[]): PatchOperation[] {
  const granted = injections.filter((i): i is Extract<Injection, { injected: true }> => i.injected);
  if (granted.length === 0) return [];
  const ops: PatchOperation[] = [];
  const volumes = [...(pod.spec.volumes ?? [])];
  const volumeNames = new Set(volumes.map((v) => v.name));
  const newVolumes: unknown[] = [];
  const containerOps = (kind: 'containers' | 'initContainers') => {
    (pod.spec[kind] ?? []).forEach((container, index) => {
      const mounts = [...(container.volumeMounts ?? [])];
      const envFrom = [...(container.envFrom ?? [])];
      let mountsChanged = false;
      let envChanged = false;
      for (const injection of granted) {
        const projection = injection.binding.spec.projection ?? {};
        const volumeName = volumeNameFor(injection.binding);
        if ((projection.as ?? 'volume') === 'volume') {
          const mountPath =
            projection.mountPath ?? `/var/run/secrets/mlsecrets/${injection.binding.metadata.name}`;
          if (!mounts.some((m) => m.name === volumeName)) {
            mounts.push({ name: volumeName, mountPath, readOnly: true } as never);
            mountsChanged = true;
          }
        } else if (!envFrom.some((e) => e.secretRef?.name === injection.secretName)) {
          envFrom.push({ secretRef: { name: injection.secretName } });
          envChanged = true;
        }
      }
      if (mountsChanged)
        ops.push({
          op: container.volumeMounts ? 'replace' : 'add',
          path: `/spec/${kind}/${index}/volumeMounts`,
          value: mounts,
        });
      if (envChanged)
        ops.push({
          op: container.envFrom ? 'replace' : 'add',
          path: `/spec/${kind}/${index}/envFrom`,
          value: envFrom,
        });
    });
  };
  for (const injection of granted) {
    if ((injection.binding.spec.projection?.as ?? 'volume') !== 'volume') continue;
    const name = volumeNameFor(injection.binding);
    if (volumeNames.has(name)) continue;
    volumeNames.add(name);
    newVolumes.push({ name, secret: { secretName: injection.secretName, defaultMode: 0o440 } });
  }
  if (newVolumes.length > 0) {
    ops.push({
      op: pod.spec.volumes ? 'replace' : 'add',
      path: '/spec/volumes',
      value: [...volumes, ...newVolumes],
    });
  }
  containerOps('containers');
  containerOps('initContainers');
  const names = [
    ...new Set([
      ...(pod.metadata.annotations?.[INJECTED_ANNOTATION]?.split(',').filter(Boolean) ?? []),
      ...granted.map((g) => g.binding.metadata.name!),
    ]),
  ].sort();
  ops.push(
    pod.metadata.annotations
      ? {
          op: 'add',
          path: `/metadata/annotations/${escapePointer(INJECTED_ANNOTATION)}`,
          value: names.join(','),
        }
      : { op: 'add', path: '/metadata/annotations', value: { [INJECTED_ANNOTATION]: names.join(',') } },
  );
  ops.push(
    pod.metadata.labels
      ? { op: 'add', path: `/metadata/labels/${escapePointer(INJECTED_LABEL)}`, value: 'true' }
      : { op: 'add', path: '/metadata/labels', value: { [INJECTED_LABEL]: 'true' } },
  );
  return ops;
}

function volumeNameFor(binding: SecretBinding): string {
  return `mlsecrets-${binding.metadata.name}`.slice(0, 63);
}

/** JSON Pointer escaping (RFC 6901). */
function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}
