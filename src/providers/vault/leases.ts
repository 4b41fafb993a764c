// Vault's leased credentials: a secrets engine (database, aws, …) mints one at a path, and
// sys/leases renews, revokes and lists them. OpenBao serves the same API.
import { ProviderError, type LeaseInfo, type LeasePort } from '../provider.port.ts';
import type { VaultRequest } from './client.ts';
import { classify } from './errors.ts';

type Send = <T>(
  request: VaultRequest,
  operation: string,
  onCall: (operation: string) => void,
) => Promise<T | undefined>;

interface LeaseAnswer {
  lease_id?: string;
  lease_duration?: number;
  renewable?: boolean;
  data?: Record<string, unknown> | null;
}

/** A path under the engine's mount, never a way out of it or into sys/. */
export function isEnginePath(path: string): boolean {
  const parts = path.split('/');
  return (
    parts.length >= 2 &&
    parts[0] !== 'sys' &&
    parts[0] !== 'auth' &&
    parts.every((p) => /^[A-Za-z0-9_.@-]+$/.test(p) && p !== '..' && p !== '.')
  );
}

export function vaultLeases(send: Send): LeasePort {
  return {
    async mint({ path, parameters }, onCall) {
      if (!isEnginePath(path)) throw new ProviderError('Invalid', `"${path}" is not a secrets engine path`);
      let answer: LeaseAnswer | undefined;
      try {
        answer = await send<LeaseAnswer>(
          parameters ? { method: 'POST', path, body: parameters } : { method: 'GET', path },
          'Mint',
          onCall,
        );
      } catch (error) {
        throw classify(error, { action: 'minting at', path });
      }
      const data = answer?.data;
      if (!answer?.lease_id || !data || typeof data !== 'object') {
        throw new ProviderError(
          'Invalid',
          `Vault: ${path} answered without a lease or data; generators.vault needs a dynamic secrets engine (database, aws, …)`,
        );
      }
      return {
        data: Object.fromEntries(
          Object.entries(data).map(([k, v]) => [
            k,
            Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)),
          ]),
        ),
        lease: leaseInfo(answer, answer.lease_id),
      };
    },

    async renew(id, incrementSeconds, onCall) {
      let answer: LeaseAnswer | undefined;
      try {
        answer = await send<LeaseAnswer>(
          { method: 'PUT', path: 'sys/leases/renew', body: { lease_id: id, increment: incrementSeconds } },
          'RenewLease',
          onCall,
        );
      } catch (error) {
        throw classify(error, { action: 'renewing a lease of', path: leasePath(id) });
      }
      return leaseInfo(answer, id);
    },

    async revoke(id, onCall) {
      try {
        await send(
          { method: 'PUT', path: 'sys/leases/revoke', body: { lease_id: id } },
          'RevokeLease',
          onCall,
        );
      } catch (error) {
        const classified = classify(error, { action: 'revoking a lease of', path: leasePath(id) });
        // Vault answers 400 "invalid lease" for a lease it no longer has: revoked already, or expired.
        if (classified.category === 'NotFound' || (error as { status?: number }).status === 400) return;
        throw classified;
      }
    },

    async list(prefix, onCall) {
      const folder = prefix.replace(/\/+$/, '');
      let keys: string[];
      try {
        const answer = await send<{ data?: { keys?: string[] } }>(
          { method: 'GET', path: `sys/leases/lookup/${folder}`, query: { list: 'true' } },
          'ListLeases',
          onCall,
        );
        keys = answer?.data?.keys ?? [];
      } catch (error) {
        const classified = classify(error, { action: 'listing the leases of', path: folder });
        if (classified.category === 'NotFound') return [];
        throw classified;
      }
      const out: { id: string; issuedAt: number }[] = [];
      for (const key of keys.filter((k) => !k.endsWith('/'))) {
        const id = `${folder}/${key}`;
        try {
          const answer = await send<{ data?: { issue_time?: string } }>(
            { method: 'PUT', path: 'sys/leases/lookup', body: { lease_id: id } },
            'LookupLease',
            onCall,
          );
          const issuedAt = Date.parse(answer?.data?.issue_time ?? '');
          if (Number.isFinite(issuedAt)) out.push({ id, issuedAt });
        } catch (error) {
          const classified = classify(error, { action: 'looking up a lease of', path: folder });
          if (classified.category !== 'NotFound' && (error as { status?: number }).status !== 400)
            throw classified;
        }
      }
      return out;
    },
  };
}

function leaseInfo(answer: LeaseAnswer | undefined, id: string): LeaseInfo {
  return {
    id: answer?.lease_id || id,
    durationSeconds: Math.max(0, Math.floor(answer?.lease_duration ?? 0)),
    renewable: answer?.renewable === true,
  };
}

/** The path part of a lease id ("database/creds/ro/AbC…" → "database/creds/ro"): never the id itself in a message. */
export function leasePath(id: string): string {
  return id.split('/').slice(0, -1).join('/') || 'a lease';
}
