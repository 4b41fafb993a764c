import type { Schema } from './common.ts';
import { secretBindingSpec, secretBindingStatus } from './secret-binding.ts';
import { storeSpec, storeStatus, type ProviderSchema } from './secret-store.ts';

export const GROUP = 'mlsecrets.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

const readyColumns = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
];
const ageColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

interface KindInfo {
  kind: string;
  plural: string;
  shortName: string;
  scope: 'Namespaced' | 'Cluster';
  description: string;
  spec: Schema;
  status: Schema;
  columns: Schema[];
}

/** The kinds, with the store specs' provider union made of `providers` (src/providers/registry.ts). */
function kinds(providers: ProviderSchema[]): KindInfo[] {
  return [
    {
      kind: 'SecretStore',
      plural: 'secretstores',
      shortName: 'ss',
      scope: 'Namespaced',
      description:
        'An external secret store (AWS, Google, or Secrets of a source namespace) and the policy for bindings that use it. Usable only by SecretBindings in its own namespace.',
      spec: storeSpec(false, providers),
      status: storeStatus,
      columns: [
        ...readyColumns,
        { name: 'Provider', type: 'string', jsonPath: '.status.provider' },
        ageColumn,
      ],
    },
    {
      kind: 'ClusterSecretStore',
      plural: 'clustersecretstores',
      shortName: 'css',
      scope: 'Cluster',
      description:
        'An external secret store usable by SecretBindings of every namespace its policy.namespaceSelector admits.',
      spec: storeSpec(true, providers),
      status: storeStatus,
      columns: [
        ...readyColumns,
        { name: 'Provider', type: 'string', jsonPath: '.status.provider' },
        ageColumn,
      ],
    },
    {
      kind: 'SecretBinding',
      plural: 'secretbindings',
      shortName: 'sb',
      scope: 'Namespaced',
      description:
        'Which values of a store become a short-lived, rotated Kubernetes Secret, and which pods receive it.',
      spec: secretBindingSpec,
      status: secretBindingStatus,
      columns: [
        ...readyColumns,
        { name: 'Secret', type: 'string', jsonPath: '.status.secretName' },
        { name: 'Expires', type: 'string', jsonPath: '.status.expiresAt' },
        ageColumn,
      ],
    },
  ];
}

/** The CustomResourceDefinitions, as applied to a cluster. */
export function customResourceDefinitions(providers: ProviderSchema[]): Schema[] {
  return kinds(providers).map((k) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'mlsecrets', 'app.kubernetes.io/part-of': 'mlsecrets' },
    },
    spec: {
      group: GROUP,
      scope: k.scope,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        shortNames: [k.shortName],
        categories: ['mlsecrets'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: k.description,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: 'The API version: mlsecrets.io/v1alpha1.' },
                kind: { type: 'string', description: `The kind: ${k.kind}.` },
                metadata: { type: 'object' },
                spec: k.spec,
                status: k.status,
              },
            },
          },
        },
      ],
    },
  }));
}

/** The kinds, for the type generator. */
export function apiKinds(providers: ProviderSchema[]): { kind: string; spec: Schema; status: Schema }[] {
  return kinds(providers).map(({ kind, spec, status }) => ({ kind, spec, status }));
}
