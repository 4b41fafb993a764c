// Building blocks shared by the CRD schemas. Every field has a description: `kubectl explain`
// prints them, and they are the reference users read first.

/** An OpenAPI v3 schema as the CRD structural-schema rules allow it. */
export type Schema = Record<string, unknown>;

/**
 * Gives a sub-schema a TypeScript type name. The generator turns the mark into the JSON
 * Schema `title` that json-schema-to-typescript names types by, and removes it from the CRDs.
 */
export const TS_NAME = 'x-ts-name';
export function named(name: string, schema: Schema): Schema {
  return { ...schema, [TS_NAME]: name };
}

export const GO_DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

export function duration(description: string): Schema {
  return { type: 'string', pattern: GO_DURATION_PATTERN, maxLength: 64, description };
}

export function str(description: string, extra: Schema = {}): Schema {
  return { type: 'string', description, ...extra };
}

export function bool(description: string): Schema {
  return { type: 'boolean', description };
}

export function obj(description: string, properties: Record<string, Schema>, extra: Schema = {}): Schema {
  return { type: 'object', description, properties, ...extra };
}

export function arrayOf(description: string, items: Schema, extra: Schema = {}): Schema {
  return { type: 'array', description, items, ...extra };
}

export function stringMap(description: string): Schema {
  return { type: 'object', description, additionalProperties: { type: 'string' } };
}

export function enumOf(description: string, values: string[], extra: Schema = {}): Schema {
  return { type: 'string', enum: values, description, ...extra };
}

/** A Kubernetes Secret data key: what `kubectl create secret` accepts. */
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';

export const labelSelector = (description: string): Schema =>
  named(
    'LabelSelector',
    obj(
      description,
      {
        matchLabels: stringMap('Labels that must all be present with these values.'),
        matchExpressions: arrayOf(
          'Set-based requirements, all of which must hold.',
          obj(
            'A label requirement.',
            {
              key: str('The label key.'),
              operator: enumOf('How the key relates to the values.', [
                'In',
                'NotIn',
                'Exists',
                'DoesNotExist',
              ]),
              values: arrayOf('Values for In and NotIn; empty for Exists and DoesNotExist.', {
                type: 'string',
              }),
            },
            { required: ['key', 'operator'] },
          ),
        ),
      },
      { 'x-kubernetes-map-type': 'atomic' },
    ),
  );

/** A key of a Kubernetes Secret, used for provider credentials. */
export const secretKeySelector = (what: string): Schema =>
  named(
    'SecretKeySelector',
    obj(
      `The Kubernetes Secret key holding ${what}.`,
      {
        name: str('Name of the Secret.', { minLength: 1, maxLength: 253 }),
        namespace: str(
          'Namespace of the Secret. A SecretStore may only name its own namespace (the default); a ClusterSecretStore must name one.',
          { maxLength: 63 },
        ),
        key: str('The data key within the Secret.', { pattern: SECRET_KEY_PATTERN, maxLength: 253 }),
      },
      { required: ['name', 'key'] },
    ),
  );

export const condition: Schema = named(
  'Condition',
  obj(
    'A condition of the resource, as Kubernetes API conventions define it.',
    {
      type: str('Ready or Synced.'),
      status: enumOf('True, False or Unknown.', ['True', 'False', 'Unknown']),
      reason: str('A CamelCase word saying why; stable, for alerts and automation.'),
      message: str('What a person needs to know. Never contains a secret value.'),
      lastTransitionTime: str('When status last changed.', { format: 'date-time' }),
      observedGeneration: {
        type: 'integer',
        format: 'int64',
        description: 'The generation this condition describes.',
      },
    },
    { required: ['type', 'status'] },
  ),
);

export const conditions: Schema = arrayOf('The latest observations of the resource state.', condition, {
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

/** Readers a managed Secret may have besides the operator and its consumers' kubelets. */
export const expectedReaders = named(
  'ExpectedReaders',
  obj('Readers of the managed Secrets that are expected (access audit): no Event, no response.', {
    users: arrayOf(
      'User names, as the API server authenticates them.',
      { type: 'string', maxLength: 253 },
      { maxItems: 64 },
    ),
    groups: arrayOf(
      'Groups: a reader in any of them is expected.',
      { type: 'string', maxLength: 253 },
      { maxItems: 64 },
    ),
    serviceAccounts: arrayOf(
      'Service accounts as "namespace/name", or "namespace/*" for every account of a namespace.',
      {
        type: 'string',
        maxLength: 317,
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?/([*]|[a-z0-9]([-.a-z0-9]*[a-z0-9])?)$',
      },
      { maxItems: 64 },
    ),
  }),
);
