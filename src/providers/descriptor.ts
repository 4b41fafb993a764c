// What a provider says about itself. Each provider folder exports one descriptor; the list in
// registry.ts is the only place that names them all. The CRD union and its CEL rule, the
// generated types, `mlsecrets validate`'s checks, the README's provider table and the fuzz
// tests are all derived from that list (CONTRIBUTING.md, "Adding a provider").
import type { ProviderSchema } from '../api/schema/secret-store.ts';
import type { ProviderFactory } from './provider.port.ts';

/** A problem `mlsecrets validate` reports, at a path under `spec.provider.<id>`. */
export interface ProviderSpecProblem {
  path: string;
  message: string;
}

export interface ProviderDescriptor extends ProviderSchema {
  /** Loads the factory on the first store of this kind: its SDK stays out of memory until then. */
  load(): Promise<ProviderFactory>;
  /**
   * Where in the provider's block the Kubernetes Secret references of its credentials are
   * (dotted paths, e.g. "auth.secretRef.accessKeyID"). A SecretStore may only name its own
   * namespace in them, a ClusterSecretStore must name one.
   */
  credentialRefs: string[];
  /** The generators (spec.generators[].<name>) whose credentials this provider can mint. */
  generators?: string[];
  /** Rules the schema cannot say, checked offline by `mlsecrets validate` (the operator reports them as InvalidSpec). */
  checkSpec?(
    kind: 'SecretStore' | 'ClusterSecretStore',
    spec: Record<string, unknown>,
    storeNamespace: string | undefined,
  ): ProviderSpecProblem[];
  /** The provider's rows of the README's provider table. */
  docs: { provider: string; fields: string; key: string; version: string; find: string }[];
  /** Valid blocks, from which the fuzz tests start (and which they break). */
  examples: Record<string, unknown>[];
}
