// The `aws` provider as the rest of the operator sees it: its spec block, its credentials, and
// how to load it (AWS Secrets Manager or Systems Manager Parameter Store).
import { enumOf, named, obj, secretKeySelector, str } from '../../api/schema/common.ts';
import type { ProviderDescriptor } from '../descriptor.ts';

const schema = named(
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

export const awsDescriptor: ProviderDescriptor = {
  id: 'aws',
  schema,
  load: async () => (await import('./aws.provider.ts')).awsProviderFactory,
  credentialRefs: [
    'auth.secretRef.accessKeyID',
    'auth.secretRef.secretAccessKey',
    'auth.secretRef.sessionToken',
  ],
  generators: ['awsSTS'],
  docs: [
    {
      provider: '`aws` with `service: SecretsManager` (default)',
      fields: '`region`, `endpoint` (VPC endpoint or emulator), `auth`',
      key: 'secret name or ARN',
      version: 'version id (UUID) or stage: `AWSCURRENT` (default), `AWSPREVIOUS`, custom',
      find: 'name prefix (`path`), regexp, tags',
    },
    {
      provider: '`aws` with `service: ParameterStore`',
      fields: 'as above',
      key: 'parameter name',
      version: 'version number or label',
      find: '`path` recursively, regexp, tags',
    },
  ],
  // Endpoints on a closed loopback port: a store made from an example never leaves the machine.
  examples: [
    { region: 'us-east-1', endpoint: 'http://127.0.0.1:9' },
    { region: 'eu-west-1', service: 'ParameterStore', endpoint: 'http://127.0.0.1:5000' },
    {
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      auth: {
        secretRef: {
          accessKeyID: { name: 'aws-creds', key: 'id' },
          secretAccessKey: { name: 'aws-creds', key: 'secret' },
        },
        roleArn: 'arn:aws:iam::123456789012:role/reader',
      },
    },
  ],
};
