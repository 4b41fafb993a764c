// Withdrawing a binding's Secrets: all of them when the binding is deleted (their leases
// revoked at once, as no reconcile will come back for it), or while it stands withheld or is
// re-issued after an unexpected read (compromise.ts: leases retired, revoked at the next settle).
import { splitKey, type SecretBinding } from '../../api/types.ts';
import type { SecretWriter } from '../../kube/kube-client.ts';
import type { StoreDirectory } from '../stores.ts';
import type { BindingCache, BindingListener } from './deps.ts';
import type { LeaseBook } from './leases.ts';
import type { BindingRecorder } from './recording.ts';

export interface WithdrawContext {
  cache: Pick<BindingCache, 'managedSecretsOf'>;
  secrets: SecretWriter;
  recorder: BindingRecorder;
}

/** A deleted binding: its Secrets go with it, and the leases of their credentials. */
export async function withdrawDeleted(
  ctx: WithdrawContext & {
    leases: Pick<LeaseBook, 'revokeAllOf'>;
    stores: Pick<StoreDirectory, 'storeFor' | 'handleFor'>;
    listener: Pick<BindingListener, 'providerCall'>;
  },
  key: string,
): Promise<void> {
  const { namespace, name } = splitKey(key);
  if (!namespace) return;
  const { stores, listener } = ctx;
  await ctx.leases.revokeAllOf(
    key,
    (ns, storeRef) =>
      stores.handleFor(stores.storeFor({ metadata: { namespace: ns }, spec: { storeRef } } as never)),
    (handle, op) => listener.providerCall(handle, op),
  );
  for (const secret of ctx.cache.managedSecretsOf(namespace, name)) {
    await ctx.secrets.deleteSecret(namespace, secret.metadata.name!, secret.metadata.uid);
    ctx.recorder.revokedWithBinding(key, secret.metadata.name!);
  }
}

/** Deletes every Secret of a binding that stays, and retires their leases; returns their names. */
export async function withdrawAll(
  ctx: WithdrawContext & { leases: Pick<LeaseBook, 'retireAllBut'> },
  binding: SecretBinding,
  now: number,
): Promise<string[]> {
  await ctx.leases.retireAllBut(binding, [], now);
  const deleted: string[] = [];
  for (const secret of ctx.cache.managedSecretsOf(binding.metadata.namespace!, binding.metadata.name!)) {
    await ctx.secrets.deleteSecret(binding.metadata.namespace!, secret.metadata.name!, secret.metadata.uid);
    deleted.push(secret.metadata.name!);
  }
  return deleted;
}
