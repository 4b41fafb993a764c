// The parts of a pod the webhook and the attestation gate read.

export interface PodLike {
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: {
    serviceAccountName?: string;
    containers: PodContainer[];
    initContainers?: PodContainer[];
    volumes?: { name: string }[];
  };
}

export interface PodContainer {
  name: string;
  image?: string;
  volumeMounts?: { name: string; mountPath: string }[];
  envFrom?: { secretRef?: { name: string } }[];
}

/** The parts of a pod spec (or pod template spec) that name Secrets. */
export interface SecretReferences {
  volumes?: {
    secret?: { secretName?: string };
    projected?: { sources?: { secret?: { name?: string } }[] };
  }[];
  containers?: SecretReferencingContainer[];
  initContainers?: SecretReferencingContainer[];
  ephemeralContainers?: SecretReferencingContainer[];
  imagePullSecrets?: { name?: string }[];
}

interface SecretReferencingContainer {
  envFrom?: { secretRef?: { name?: string } }[];
  env?: { valueFrom?: { secretKeyRef?: { name?: string } } }[];
}

/**
 * Whether a pod spec names the Secret: as a volume, a projected source, an env or envFrom
 * reference of any container, or an image pull secret. These are the references the Node
 * authorizer lets a pod's kubelet read by.
 */
export function referencesSecret(spec: SecretReferences, secretName: string): boolean {
  if (spec.imagePullSecrets?.some((s) => s.name === secretName)) return true;
  if (
    spec.volumes?.some(
      (v) =>
        v.secret?.secretName === secretName ||
        v.projected?.sources?.some((s) => s.secret?.name === secretName),
    )
  ) {
    return true;
  }
  return [
    ...(spec.containers ?? []),
    ...(spec.initContainers ?? []),
    ...(spec.ephemeralContainers ?? []),
  ].some(
    (c) =>
      (c.envFrom ?? []).some((e) => e.secretRef?.name === secretName) ||
      (c.env ?? []).some((e) => e.valueFrom?.secretKeyRef?.name === secretName),
  );
}
