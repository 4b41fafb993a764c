// The Secret a Shared binding has now, from the caches where they can be trusted.
import type { EffectiveLifetime } from '../../api/defaults.ts';
import type { SecretBinding } from '../../api/types.ts';
import type { SecretObject, SecretWriter } from '../../kube/kube-client.ts';
import type { BindingCache } from './deps.ts';
import type { OwnWrites } from './memory.ts';
import { carries } from './plan.ts';
import type { StoreReader } from './store-read.ts';

export interface CurrentSecretContext {
  cache: Pick<BindingCache, 'getManagedSecret' | 'unmanagedSecretExists'>;
  secrets: Pick<SecretWriter, 'getSecret'>;
  memory: OwnWrites;
  reader: Pick<StoreReader, 'warm'>;
}

/**
 * The binding's Secret: from the managed cache, unless the cache lags behind our own last
 * write (watches catching up after an outage), or the Secret is not in it. Outside it, the
 * Secret is foreign (never overwritten), ours with its labels stripped, or (most often) a new
 * binding's that does not exist yet: the store is read meanwhile (warm), so a first sync waits
 * one round trip, not two. The API server's watch cache answers; our cache of unmanaged
 * Secrets' names answers with no call at all when it knows the name is free and this process
 * never wrote it (a Secret we just wrote may not be in the managed cache yet).
 */
export async function currentSecret(
  ctx: CurrentSecretContext,
  key: string,
  binding: SecretBinding,
  lifetime: EffectiveLifetime,
  name: string,
  now: number,
): Promise<SecretObject | undefined> {
  const namespace = binding.metadata.namespace!;
  let secret = ctx.cache.getManagedSecret(namespace, name);
  const ownWrite = ctx.memory.lastWrite(key);
  if (secret && ownWrite && !carries(secret, ownWrite)) secret = await ctx.secrets.getSecret(namespace, name);
  if (secret) return secret;
  ctx.reader.warm(binding, lifetime, now);
  if (!ownWrite && ctx.cache.unmanagedSecretExists(namespace, name) === false) return undefined;
  return ctx.secrets.getSecret(namespace, name, { watchCache: true });
}
