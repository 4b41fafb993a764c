import {
  arrayOf,
  bool,
  conditions,
  duration,
  enumOf,
  expectedReaders,
  labelSelector,
  named,
  obj,
  SECRET_KEY_PATTERN,
  str,
  stringMap,
  type Schema,
} from './common.ts';

const decodingStrategy = enumOf(
  'How to decode the fetched value: None (default), Base64, Base64URL, or Auto (decode when the value is valid base64).',
  ['None', 'Base64', 'Base64URL', 'Auto'],
);

const remoteKey = str(
  'The remote secret: name or ARN (AWS Secrets Manager), parameter name (Parameter Store), secret id (Google), or Secret name in the source namespace (kubernetes).',
  { minLength: 1, maxLength: 2048 },
);
const version = str(
  'A version id or stage/label. AWS: AWSCURRENT (default), AWSPREVIOUS or a custom stage; Parameter Store: a version number or label; Google: latest (default), a number or an alias.',
  { maxLength: 256 },
);
const property = str(
  'One field of the value: a JSON field, with dots for nesting and numbers for array items (db.hosts.0); for kubernetes, a data key of the source Secret. Absent: the whole value as is.',
  { maxLength: 1024 },
);

const remoteRef = named(
  'RemoteRef',
  obj(
    'Which remote value to read.',
    { key: remoteKey, property, version, decodingStrategy },
    { required: ['key'] },
  ),
);

const dataItem = named(
  'DataItem',
  obj(
    'One key of the target Secret.',
    {
      secretKey: str('The key in the target Secret.', {
        pattern: SECRET_KEY_PATTERN,
        minLength: 1,
        maxLength: 253,
      }),
      remoteRef,
    },
    { required: ['secretKey', 'remoteRef'] },
  ),
);

const dataFromItem = named(
  'DataFromItem',
  obj(
    'Many keys at once: every field of one JSON value (extract), or many remote secrets (find).',
    {
      extract: obj(
        'Every top-level field of a JSON value becomes a key (for kubernetes: every data key). Nested objects are written as JSON.',
        { key: remoteKey, property, version, decodingStrategy },
        { required: ['key'] },
      ),
      find: obj('Every remote secret that matches becomes one key, named after it.', {
        path: str('Only secrets under this path (prefix). Parameter Store searches it recursively.', {
          maxLength: 2048,
        }),
        name: obj('Match on the remote name.', {
          regexp: str('A regular expression the name must match.', { maxLength: 1024 }),
        }),
        tags: stringMap('Tags (labels on Google) that must all be present with these values.'),
        decodingStrategy,
      }),
      rewrite: arrayOf(
        'Renames of the resulting keys, applied in order.',
        obj(
          'A rename.',
          {
            regexp: obj(
              'Replace matches of source with target ($1 refers to groups).',
              {
                source: str('Regular expression.', { maxLength: 1024 }),
                target: str('Replacement.', { maxLength: 1024 }),
              },
              { required: ['source', 'target'] },
            ),
          },
          { required: ['regexp'] },
        ),
        { maxItems: 32 },
      ),
    },
    {
      'x-kubernetes-validations': [
        {
          rule: '[has(self.extract), has(self.find)].filter(x, x).size() == 1',
          message: 'set exactly one of extract or find',
        },
      ],
    },
  ),
);

const generator = named(
  'Generator',
  obj(
    'A generator of dynamic credentials, minted at each issue of the Secret.',
    {
      awsSTS: obj(
        'Temporary AWS credentials from STS AssumeRole, using the store credentials (the store must be aws). Writes AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION.',
        {
          roleArn: str('The role to assume.', { pattern: '^arn:[^:]+:iam::[0-9]{12}:role/.+$' }),
          durationSeconds: {
            type: 'integer',
            minimum: 900,
            maximum: 43200,
            description: 'Credential lifetime in seconds (900 to 43200). Default 3600.',
          },
          sessionName: str('Role session name. Default: mlsecrets-<namespace>-<binding>.', { maxLength: 64 }),
        },
        { required: ['roleArn'] },
      ),
      vault: obj(
        'Leased credentials from a Vault or OpenBao dynamic secrets engine (the store must be vault): a database user, cloud keys. Writes each field of the answer (username, password, access_key, …). The lease is renewed at 2/3 of its TTL while the Secret lives and revoked when it ends (binding deleted, Job finished, Secret expired or revoked).',
        {
          path: str('The engine path that mints, for example database/creds/feature-store-ro.', {
            pattern: '^[A-Za-z0-9_.@-]+(/[A-Za-z0-9_.@-]+)+$',
            maxLength: 512,
          }),
          parameters: stringMap(
            'Sent as the JSON body of a POST, for engines that take parameters (aws/sts/<role> with ttl); absent: a GET.',
          ),
          overlap: duration(
            'How long a replaced credential keeps working after its successor is written (its lease reached its max TTL, the data changed, a rotation), so running clients can switch. Default 1m.',
          ),
        },
        { required: ['path'] },
      ),
    },
    {
      'x-kubernetes-validations': [
        {
          rule: '[has(self.awsSTS), has(self.vault)].filter(x, x).size() == 1',
          message: 'set exactly one of awsSTS or vault',
        },
      ],
    },
  ),
);

const target = named(
  'SecretTarget',
  obj('The managed Secret.', {
    name: str("Name of the Secret. Default: the binding's name.", { maxLength: 253 }),
    type: str('Secret type. Default Opaque (or template.type).', { maxLength: 253 }),
    labels: stringMap('Extra labels on the Secret.'),
    annotations: stringMap('Extra annotations on the Secret.'),
    template: obj('Shape the Secret from the fetched values (Liquid syntax, sandboxed).', {
      type: str('The Secret type the template produces, for example kubernetes.io/dockerconfigjson.', {
        maxLength: 253,
      }),
      data: stringMap('Secret keys and their Liquid templates; every fetched key is a variable.'),
      mergePolicy: enumOf(
        'Replace (default): only templated keys. Merge: templated keys over the fetched ones.',
        ['Replace', 'Merge'],
      ),
      metadata: obj('Labels and annotations added by the template.', {
        labels: stringMap('Labels.'),
        annotations: stringMap('Annotations.'),
      }),
    }),
  }),
);

const lifetime = named(
  'Lifetime',
  obj(
    'How long each issued Secret lives, and when it is refreshed, renewed and rotated.',
    {
      ttl: duration(
        'Each issued Secret expires ttl after issue (annotation mlsecrets.io/expires-at) and is renewed at 2/3 of it. Default 24h.',
      ),
      refreshInterval: duration(
        'Re-read the store this often, picking up rotations done in the store. Default: 1h, or ttl if shorter.',
      ),
      rotationSchedule: str(
        'Cron schedule (5 or 6 fields, or @daily and friends) of forced re-issues, with a store-side rotation when rotateInStore.',
        {
          maxLength: 256,
          pattern: '^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\\S+\\s+){4,5}\\S+)$',
        },
      ),
      timeZone: str('IANA time zone of rotationSchedule. Default UTC.', { maxLength: 64 }),
      rotateInStore: bool('Ask the store to rotate the value (AWS RotateSecret) at each scheduled rotation.'),
      onExpiry: enumOf(
        'When ttl passes without a successful renewal: Delete (default, fail closed) removes the Secret; Retain keeps it with Ready=False.',
        ['Delete', 'Retain'],
      ),
    },
    {
      'x-kubernetes-validations': [
        {
          rule: '!has(self.ttl) || !has(self.refreshInterval) || duration(self.ttl) >= duration(self.refreshInterval)',
          message: 'ttl must be at least refreshInterval',
        },
      ],
    },
  ),
);

const projection = named(
  'Projection',
  obj('How the Secret reaches pods, through the admission webhook.', {
    selector: labelSelector(
      'Pods that receive the Secret. Default: pods labelled mlsecrets.io/binding=<binding name>.',
    ),
    as: enumOf('volume (default): files updated in place. env: envFrom, needs a restart to change.', [
      'volume',
      'env',
    ]),
    mountPath: str('Where the volume is mounted. Default /var/run/secrets/mlsecrets/<binding name>.', {
      maxLength: 4096,
      pattern: '^/.*',
    }),
    scope: enumOf(
      'Shared (default): one Secret for all matched pods. PerWorkload: one Secret per Job or bare Pod, owned by it and revoked when it ends.',
      ['Shared', 'PerWorkload'],
    ),
    onRotation: enumOf(
      'None (default) or RolloutRestart: restart consuming Deployments and StatefulSets one at a time when the data changes. Jobs are never restarted.',
      ['None', 'RolloutRestart'],
    ),
    requirements: obj('The attestation gate, checked before injecting.', {
      serviceAccountNames: arrayOf(
        'Service accounts a pod must run as.',
        { type: 'string' },
        { maxItems: 64 },
      ),
      imageDigestPinned: bool('Every container image must be referenced by @sha256 digest.'),
      allowedImages: arrayOf(
        'Globs that every container image must match.',
        { type: 'string' },
        { maxItems: 64 },
      ),
      enforcement: enumOf('Skip (default): admit the pod without the secret. Deny: reject the pod.', [
        'Skip',
        'Deny',
      ]),
    }),
  }),
);

const access = named(
  'Access',
  obj('Who may read the managed Secrets, and the response to anyone else (access audit).', {
    expectedReaders,
    onUnexpectedRead: enumOf(
      'Record (default): a Warning Event, a metric and the Compromised condition. Rotate: also issue the Secret anew (a store-side rotation with rotateInStore, a new lease with the old one revoked). Revoke: also delete the Secret and withhold it until the Compromised condition is acknowledged.',
      ['Record', 'Rotate', 'Revoke'],
    ),
  }),
);

export const secretBindingSpec: Schema = obj(
  'Which workloads get which values from which store, for how long.',
  {
    storeRef: obj(
      'The store to read from.',
      {
        kind: enumOf(
          'SecretStore (same namespace) or ClusterSecretStore.',
          ['SecretStore', 'ClusterSecretStore'],
          {
            default: 'SecretStore',
          },
        ),
        name: str('Name of the store.', { minLength: 1, maxLength: 253 }),
      },
      { required: ['name'] },
    ),
    data: arrayOf('Single keys of the target Secret.', dataItem, { maxItems: 256 }),
    dataFrom: arrayOf('Many keys at once.', dataFromItem, { maxItems: 64 }),
    generators: arrayOf('Dynamic credentials minted at each issue.', generator, { maxItems: 8 }),
    target: target,
    lifetime: lifetime,
    projection: projection,
    access: access,
  },
  {
    required: ['storeRef'],
    'x-kubernetes-validations': [
      {
        rule: '(has(self.data) && size(self.data) > 0) || (has(self.dataFrom) && size(self.dataFrom) > 0) || (has(self.generators) && size(self.generators) > 0)',
        message: 'set at least one of data, dataFrom or generators',
      },
    ],
  },
);

export const secretBindingStatus: Schema = obj(
  'What the operator observed and did. Never holds a secret value.',
  {
    observedGeneration: { type: 'integer', format: 'int64', description: 'The generation last reconciled.' },
    conditions,
    secretName: str('The managed Secret.'),
    syncedAt: str('When the current data was written.', { format: 'date-time' }),
    issuedAt: str('When the current Secret was issued; renewals and rotations issue it again.', {
      format: 'date-time',
    }),
    expiresAt: str('When the current Secret expires unless renewed.', { format: 'date-time' }),
    nextRotationAt: str('The next scheduled rotation.', { format: 'date-time' }),
    sources: arrayOf(
      'The remote values read, with their versions.',
      named(
        'SourceVersion',
        obj('A remote value.', { key: str('Remote key.'), versionId: str('Version id the store reported.') }),
      ),
    ),
    dataHash: str(
      'HMAC-SHA256 of the data with a per-install key: detects change and drift without exposing values.',
    ),
    projectedPods: { type: 'integer', description: 'Pods currently carrying this binding.' },
    access: named(
      'AccessStatus',
      obj('The access audit: the last unexpected read, and the response to it. Never a value.', {
        lastUnexpectedRead: named(
          'UnexpectedRead',
          obj('The last read by a reader that was not expected, or over its read allowance.', {
            at: str('When the API server received the read.', { format: 'date-time' }),
            reader: str('Who read: user, service account or node.', { maxLength: 1024 }),
            verb: str('get, list or watch.', { maxLength: 16 }),
            secret: str('The Secret read.', { maxLength: 253 }),
            reason: str('Why the read was not expected.', { maxLength: 1024 }),
          }),
        ),
        respondedTo: str('The lastUnexpectedRead.at the binding has responded to (onUnexpectedRead).', {
          format: 'date-time',
        }),
      }),
    ),
    leases: arrayOf(
      'Leases of generators.vault credentials the operator holds: renewed while their Secret lives, revoked after it. Ids only, never values.',
      named(
        'LeaseRecord',
        obj(
          'One lease.',
          {
            id: str('The lease id.', { maxLength: 1024 }),
            secret: str('The Secret whose data it is.', { maxLength: 253 }),
            expiresAt: str('When the lease ends unless renewed.', { format: 'date-time' }),
            grantedSeconds: { type: 'integer', description: 'The TTL the store last granted.' },
            revokeAt: str('Set once replaced or no longer wanted: when it is revoked.', {
              format: 'date-time',
            }),
          },
          { required: ['id', 'secret', 'expiresAt'] },
        ),
      ),
      { maxItems: 256 },
    ),
  },
);
