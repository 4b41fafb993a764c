import {
  arrayOf,
  conditions,
  duration,
  enumOf,
  labelSelector,
  named,
  obj,
  secretKeySelector,
  str,
  type Schema,
} from './common.ts';

const awsProvider = named(
  'AwsProvider',
  obj(
    'AWS Secrets Manager or Systems Manager Parameter Store.',
    {
      service: enumOf('Which AWS service holds the values.', ['SecretsManager', 'ParameterStore'], {
        default: 'SecretsManager',
      }),
      region: str('AWS region, for example us-east-1.', { minLength: 1, maxLength: 64 }),
      endpoint: str(
        'Endpoint override: a VPC endpoint or an emulator such as moto (http://127.0.0.1:5000).',
        {
          maxLength: 2048,
        },
      ),
      auth: obj(
        'How to authenticate. Absent: the AWS SDK default chain (IRSA, EKS pod identity, instance role, environment).',
        {
          secretRef: obj(
            'Static access keys read from Kubernetes Secrets.',
            {
              accessKeyID: secretKeySelector('the access key id'),
              secretAccessKey: secretKeySelector('the secret access key'),
              sessionToken: secretKeySelector('an optional session token'),
            },
            { required: ['accessKeyID', 'secretAccessKey'] },
          ),
          roleArn: str('An IAM role to assume (STS AssumeRole) on top of the base credentials.', {
            pattern: '^arn:[^:]+:iam::[0-9]{12}:role/.+$',
          }),
          externalID: str('External id for AssumeRole, when the role requires one.', { maxLength: 1224 }),
        },
      ),
    },
    { required: ['region'] },
  ),
);

const gcpProvider = named(
  'GcpProvider',
  obj(
    'Google Secret Manager.',
    {
      projectID: str('The Google Cloud project that holds the secrets.', { minLength: 1, maxLength: 128 }),
      endpoint: str(
        'Endpoint override (host:port), for example an emulator on 127.0.0.1:8085 (plaintext gRPC).',
        {
          maxLength: 2048,
        },
      ),
      auth: obj('How to authenticate. Absent: Application Default Credentials (workload identity on GKE).', {
        secretRef: secretKeySelector('a service-account key JSON'),
      }),
    },
    { required: ['projectID'] },
  ),
);

const kubernetesProvider = named(
  'KubernetesProvider',
  obj(
    'Secrets of one source namespace of this cluster. Needs no cloud; good for trying mlsecrets out and for fanning one Secret out to many namespaces.',
    {
      namespace: str(
        'The source namespace. A SecretStore may only read its own namespace (the default); a ClusterSecretStore must name one.',
        { maxLength: 63 },
      ),
    },
  ),
);

/** The spec shared by SecretStore and ClusterSecretStore. */
export function storeSpec(cluster: boolean): Schema {
  const policyProps: Record<string, Schema> = {
    allowedKeys: arrayOf(
      'Globs (* matches any run of characters, ? one) over remote keys that bindings may read. Absent: every key.',
      { type: 'string', maxLength: 1024 },
      { maxItems: 256 },
    ),
    maxTTL: duration(
      'The longest lifetime.ttl a binding may ask for; a binding asking more is denied (PolicyDenied).',
    ),
    minRefreshInterval: duration(
      'The shortest lifetime.refreshInterval a binding may ask for; shorter asks are denied (PolicyDenied).',
    ),
  };
  if (cluster) {
    policyProps.namespaceSelector = labelSelector(
      'Namespaces whose bindings may use this store. Absent: every namespace.',
    );
  }
  return obj(
    'Where values come from and who may use them.',
    {
      provider: named(
        'StoreProvider',
        obj(
          'The external store. Set exactly one provider.',
          { aws: awsProvider, gcp: gcpProvider, kubernetes: kubernetesProvider },
          {
            'x-kubernetes-validations': [
              {
                rule: '[has(self.aws), has(self.gcp), has(self.kubernetes)].filter(x, x).size() == 1',
                message: 'set exactly one provider: aws, gcp or kubernetes',
              },
            ],
          },
        ),
      ),
      policy: named(
        cluster ? 'ClusterStorePolicy' : 'StorePolicy',
        obj('Rules enforced for every binding that uses this store.', policyProps),
      ),
      rateLimit: named(
        'RateLimit',
        obj('Provider calls per operator replica for this store (token bucket).', {
          qps: {
            type: 'number',
            minimum: 0.01,
            maximum: 10000,
            description: 'Sustained calls per second. Default 10.',
          },
          burst: {
            type: 'integer',
            minimum: 1,
            maximum: 10000,
            description: 'Calls allowed at once. Default 20.',
          },
        }),
      ),
    },
    { required: ['provider'] },
  );
}

export const storeStatus: Schema = obj('What the operator observed of this store.', {
  observedGeneration: { type: 'integer', format: 'int64', description: 'The generation last reconciled.' },
  conditions,
  provider: str('The provider in use (aws/SecretsManager, aws/ParameterStore, gcp, kubernetes).'),
});
