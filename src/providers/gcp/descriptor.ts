// The `gcp` provider as the rest of the operator sees it: Google Secret Manager.
import { named, obj, secretKeySelector, str } from '../../api/schema/common.ts';
import type { ProviderDescriptor } from '../descriptor.ts';

const schema = named(
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

export const gcpDescriptor: ProviderDescriptor = {
  id: 'gcp',
  schema,
  load: async () => (await import('./secret-manager.provider.ts')).gcpProviderFactory,
  credentialRefs: ['auth.secretRef'],
  docs: [
    {
      provider: '`gcp`',
      fields: '`projectID`, `endpoint` (`host:port`; a loopback host is plaintext, for the emulator), `auth`',
      key: 'secret id or `projects/p/secrets/s`',
      version: '`latest` (default), a number, an alias',
      find: 'labels (`tags`), prefix, regexp',
    },
  ],
  examples: [
    { projectID: 'demo', endpoint: '127.0.0.1:9' },
    {
      projectID: 'my-project',
      endpoint: '127.0.0.1:9',
      auth: { secretRef: { name: 'gcp-sa', key: 'key.json' } },
    },
  ],
};
