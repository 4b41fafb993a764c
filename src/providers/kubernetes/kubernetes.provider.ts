import {
  type FindQuery,
  ProviderError,
  StoreConfigError,
  type ProviderFactory,
  type RemoteRequest,
  type RemoteValue,
  type SecretReader,
  type SecretsProvider,
} from '../provider.port.ts';
import { isValidSecretName } from '../../api/names.ts';

/**
 * Values from Secrets of one source namespace of this cluster. A SecretStore may read only
 * its own namespace: otherwise anyone who may create a SecretStore could read another
 * namespace's Secrets through the operator's permissions.
 */
export const kubernetesProviderFactory: ProviderFactory = {
  id: 'kubernetes',
  async create(spec, context) {
    const config = spec.kubernetes!;
    const { store } = context;
    let sourceNamespace = config.namespace;
    if (store.kind === 'SecretStore') {
      if (sourceNamespace && sourceNamespace !== store.namespace) {
        throw new StoreConfigError(
          'InvalidSpec',
          `a SecretStore may only read its own namespace "${store.namespace}", not "${sourceNamespace}"; use a ClusterSecretStore`,
        );
      }
      sourceNamespace = store.namespace;
    }
    if (!sourceNamespace) {
      throw new StoreConfigError(
        'InvalidSpec',
        'a ClusterSecretStore with the kubernetes provider must name provider.kubernetes.namespace',
      );
    }
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(sourceNamespace) || sourceNamespace.length > 63) {
      throw new StoreConfigError(
        'InvalidSpec',
        `provider.kubernetes.namespace "${sourceNamespace}" is not a valid namespace name`,
      );
    }
    return new KubernetesProvider(sourceNamespace, context.secrets);
  },
};

class KubernetesProvider implements SecretsProvider {
  readonly name = 'kubernetes';
  readonly maxBatch = 1;
  private readonly namespace: string;
  private readonly secrets: SecretReader;

  constructor(namespace: string, secrets: SecretReader) {
    this.namespace = namespace;
    this.secrets = secrets;
  }

  async getSecrets(requests: RemoteRequest[], onCall: (op: string) => void) {
    return Promise.all(requests.map((r) => this.read(r.key, r.version, onCall)));
  }

  private async read(
    key: string,
    version: string | undefined,
    onCall: (op: string) => void,
  ): Promise<RemoteValue | ProviderError> {
    if (version)
      return new ProviderError('Invalid', `the kubernetes provider has no versions (asked for "${version}")`);
    // Only a Secret name of the source namespace: a key such as "../../other/secrets/x" must
    // never reach a request path (it would read another namespace). No Secret has such a name.
    if (!isValidSecretName(key))
      return new ProviderError(
        'NotFound',
        `"${key}" is not a valid Secret name, so no such Secret exists in namespace "${this.namespace}"`,
      );
    onCall('GetSecret');
    let secret;
    try {
      secret = await this.secrets.readSecret(this.namespace, key);
    } catch (error) {
      return classify(error, key, this.namespace);
    }
    if (!secret)
      return new ProviderError('NotFound', `Secret "${key}" not found in namespace "${this.namespace}"`);
    return remoteValue(key, secret.data, secret.resourceVersion);
  }

  async find(query: FindQuery, onCall: (op: string) => void): Promise<RemoteValue[]> {
    if (!this.secrets.listSecrets) throw new ProviderError('Invalid', 'listing Secrets is not available');
    const labelSelector = Object.entries(query.tags ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    onCall('ListSecrets');
    let secrets;
    try {
      secrets = await this.secrets.listSecrets(this.namespace, labelSelector || undefined);
    } catch (error) {
      throw classify(error, '*', this.namespace);
    }
    let pattern: RegExp | undefined;
    try {
      pattern = query.nameRegexp ? new RegExp(query.nameRegexp) : undefined;
    } catch {
      throw new ProviderError(
        'Invalid',
        `dataFrom.find name.regexp "${query.nameRegexp}" is not a valid regular expression`,
      );
    }
    return secrets
      .filter((s) => (!query.path || s.name.startsWith(query.path)) && (!pattern || pattern.test(s.name)))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => remoteValue(s.name, s.data, s.resourceVersion));
  }

  async validate(onCall: (op: string) => void): Promise<void> {
    // Reading a Secret that need not exist proves the operator may read this namespace. Counted
    // as its own operation (like AWS's GetCallerIdentity check), apart from the reads of values.
    onCall('CheckAccess');
    try {
      await this.secrets.readSecret(this.namespace, 'mlsecrets-access-check');
    } catch (error) {
      throw classify(error, 'mlsecrets-access-check', this.namespace);
    }
  }

  async close(): Promise<void> {}
}

/** The whole value of a Secret is its data as a JSON object of strings; its fields are the data keys. */
function remoteValue(key: string, data: Record<string, Buffer>, resourceVersion: string): RemoteValue {
  const asStrings = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString('utf8')]));
  return { key, value: Buffer.from(JSON.stringify(asStrings)), fields: data, versionId: resourceVersion };
}

function classify(error: unknown, key: string, namespace: string): ProviderError {
  const status = (error as { status?: number }).status;
  if (status === 403 || status === 401) {
    return new ProviderError('AccessDenied', `the operator may not read Secrets in namespace "${namespace}"`);
  }
  if (status === 429) return new ProviderError('Throttled', 'the Kubernetes API is throttling requests');
  if (status !== undefined && status >= 400 && status < 500) {
    return new ProviderError(
      'Invalid',
      `reading Secret "${key}" in "${namespace}" was rejected (HTTP ${status})`,
    );
  }
  return new ProviderError(
    'Unavailable',
    `the Kubernetes API did not answer reading Secret "${key}" in "${namespace}"`,
  );
}
