// The `aws` provider: builds a Secrets Manager or Parameter Store provider for a store, with its
// credentials (default chain, static keys from a Secret, an assumed role on top).
import type { AwsProvider } from '../../api/types.ts';
import { StoreConfigError, type ProviderContext, type ProviderFactory } from '../provider.port.ts';
import { sdkApis, type AwsApis, type AwsClientConfig, type StsApi } from './aws-api.ts';
import { assumedRoleCredentials, readStaticKeys, storeSessionName } from './credentials.ts';
import { ParameterStoreProvider } from './parameter-store.provider.ts';
import { SecretsManagerProvider } from './secrets-manager.provider.ts';
import { StoreIdentity } from './store-identity.ts';

/** What the factory is built with; unit tests pass fakes. */
export interface AwsFactoryOptions {
  apis?: AwsApis;
  /** For the renewal of assumed-role sessions. */
  now?: () => number;
}

/** Builds the `aws` provider factory (the registry uses the default: the real SDK). */
export function createAwsProviderFactory(options: AwsFactoryOptions = {}): ProviderFactory {
  const apis = options.apis ?? sdkApis;
  const now = options.now ?? Date.now;
  return {
    id: 'aws',
    async create(spec, context) {
      const config = spec.aws!;
      const base = await baseConfig(config, context);
      const clients: { destroy(): void }[] = [];
      let clientConfig = base;
      if (config.auth?.roleArn) {
        // The role is assumed with the base credentials, at the store's own endpoint and region.
        const baseSts: StsApi = apis.sts(base);
        clients.push(baseSts);
        clientConfig = {
          ...base,
          credentials: assumedRoleCredentials(
            baseSts,
            {
              roleArn: config.auth.roleArn,
              sessionName: storeSessionName(context.store),
              ...(config.auth.externalID ? { externalId: config.auth.externalID } : {}),
            },
            now,
          ),
        };
      }
      const identity = new StoreIdentity(apis.sts(clientConfig), clients);
      const service = config.service ?? 'SecretsManager';
      if (service === 'ParameterStore') {
        return new ParameterStoreProvider(apis.parameterStore(clientConfig), identity);
      }
      return new SecretsManagerProvider(apis.secretsManager(clientConfig), identity);
    },
  };
}

/** The `aws` provider over the real AWS SDK. */
export const awsProviderFactory: ProviderFactory = createAwsProviderFactory();

async function baseConfig(config: AwsProvider, context: ProviderContext): Promise<AwsClientConfig> {
  if (!config.region?.trim()) throw new StoreConfigError('InvalidSpec', 'provider.aws.region must be set');
  if (
    config.service !== undefined &&
    config.service !== 'SecretsManager' &&
    config.service !== 'ParameterStore'
  ) {
    throw new StoreConfigError(
      'InvalidSpec',
      `provider.aws.service must be SecretsManager or ParameterStore, not "${String(config.service)}"`,
    );
  }
  if (config.endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(config.endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new StoreConfigError(
        'InvalidSpec',
        'provider.aws.endpoint must be an http(s) URL, for example https://secretsmanager.us-east-1.amazonaws.com',
      );
    }
  }
  return {
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    // Without secretRef no credentials are set, so the SDK uses its default chain.
    ...(config.auth?.secretRef ? { credentials: await readStaticKeys(config.auth.secretRef, context) } : {}),
  };
}
