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
