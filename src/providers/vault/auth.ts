// How a store logs in to Vault: a token from a Secret, AppRole, or Kubernetes (a service
// account token from the TokenRequest API, which Vault checks with a TokenReview). A login's
// token is kept until two thirds of its lifetime have passed, then the next call logs in again.
import type { VaultProvider } from '../../api/types.ts';
import { credentialsNamespace, readCredential } from '../credential-secret.ts';
import { StoreConfigError, type ProviderContext } from '../provider.port.ts';
import type { VaultTransport } from './client.ts';
import { classify } from './errors.ts';

/** The lifetime asked for the service account token presented at a Kubernetes login. */
const SERVICE_ACCOUNT_TOKEN_SECONDS = 600;

interface LoginAnswer {
  auth?: { client_token?: string; lease_duration?: number; renewable?: boolean };
}

/** A login's token and when to renew it, kept per store and auth configuration. */
interface Session {
  current?: { token: string; renewAt: number; ttlSeconds: number; renewable: boolean };
  pending?: Promise<string>;
}

const sessions = new Map<string, Session>();

/** The session of a store's login: the same store, server and auth references share one. */
function sessionFor(config: VaultProvider, context: ProviderContext): Session {
  const { store } = context;
  const key = JSON.stringify([
    store.kind,
    store.namespace,
    store.name,
    config.server,
    config.namespace,
    config.auth,
  ]);
  let session = sessions.get(key);
  if (!session) {
    session = {};
    sessions.set(key, session);
  }
  return session;
}

/** A source of the token every call carries. */
export interface VaultLogin {
  token(onCall: (operation: string) => void): Promise<string>;
  /** Forgets a token Vault refused (revoked, expired early), so the next call logs in again. */
  forget(): void;
}

export async function vaultLogin(
  config: VaultProvider,
  context: ProviderContext,
  transport: VaultTransport,
): Promise<VaultLogin> {
  const auth = config.auth;
  const methods = (['tokenSecretRef', 'appRole', 'kubernetes'] as const).filter((m) => auth[m]);
  if (methods.length !== 1)
    throw new StoreConfigError(
      'InvalidSpec',
      'provider.vault.auth: set exactly one of tokenSecretRef, appRole, kubernetes',
    );
  if (auth.tokenSecretRef) {
    const token = await readCredential(
      auth.tokenSecretRef,
      context,
      'provider.vault.auth.tokenSecretRef',
      'a Vault token',
    );
    // A static token: nothing to renew; the store's client is rebuilt (and the Secret read
    // again) every few minutes, which picks up a replaced token.
    return { token: async () => token, forget: () => undefined };
  }
  let login: (onCall: (operation: string) => void) => Promise<LoginAnswer | undefined>;
  let path: string;
  if (auth.appRole) {
    const appRole = auth.appRole;
    path = `auth/${appRole.path ?? 'approle'}/login`;
    const field = 'provider.vault.auth.appRole';
    const roleId =
      appRole.roleId ??
      (appRole.roleRef
        ? await readCredential(appRole.roleRef, context, `${field}.roleRef`, 'the AppRole role id')
        : undefined);
    if (!roleId) throw new StoreConfigError('InvalidSpec', `${field}: set roleId or roleRef`);
    const secretId = await readCredential(
      appRole.secretRef,
      context,
      `${field}.secretRef`,
      'the AppRole secret id',
    );
    login = (onCall) => {
      onCall('Login');
      return transport.send<LoginAnswer>({
        method: 'POST',
        path,
        body: { role_id: roleId, secret_id: secretId },
      });
    };
  } else {
    const kubernetes = auth.kubernetes!;
    path = `auth/${kubernetes.mountPath ?? 'kubernetes'}/login`;
    const account = kubernetes.serviceAccountRef;
    const namespace = credentialsNamespace(
      { name: account.name, key: 'token', namespace: account.namespace },
      context.store,
      'provider.vault.auth.kubernetes.serviceAccountRef',
    );
    const audiences = account.audiences?.length ? account.audiences : ['vault'];
    login = async (onCall) => {
      let jwt: string;
      try {
        jwt = await context.tokens.requestToken(
          namespace,
          account.name,
          audiences,
          SERVICE_ACCOUNT_TOKEN_SECONDS,
        );
      } catch {
        throw new StoreConfigError(
          'StoreCredentialsMissing',
          `no token could be requested for service account "${namespace}/${account.name}" (does it exist, and may the operator create its tokens?)`,
        );
      }
      onCall('Login');
      return transport.send<LoginAnswer>({ method: 'POST', path, body: { role: kubernetes.role, jwt } });
    };
  }
  // The login's token is renewed (renew-self) rather than replaced while Vault allows, and is
  // kept across rebuilds of the store's client (every few minutes, and on spec changes): the
  // leases of generators.vault credentials end with the token that minted them, so a new login
  // would end every credential minted under the old one when its TTL runs out.
  const session = sessionFor(config, context);
  const keep = (token: string, answer: LoginAnswer | undefined) => {
    const ttlSeconds = answer?.auth?.lease_duration ?? 0;
    session.current = {
      token,
      ttlSeconds,
      renewable: answer?.auth?.renewable === true,
      renewAt: ttlSeconds > 0 ? context.now() + (ttlSeconds * 1000 * 2) / 3 : Infinity,
    };
    return token;
  };
  const fresh = async (onCall: (operation: string) => void): Promise<string> => {
    if (session.current?.renewable) {
      const renewing = session.current;
      try {
        onCall('RenewSelf');
        const answer = await transport.send<LoginAnswer>({
          method: 'POST',
          path: 'auth/token/renew-self',
          body: { increment: `${renewing.ttlSeconds}s` },
          token: renewing.token,
        });
        // Renewed for its full TTL: keep it. Near its max TTL: log in again.
        if ((answer?.auth?.lease_duration ?? 0) >= renewing.ttlSeconds) return keep(renewing.token, answer);
      } catch {
        // Revoked or expired: a new login.
      }
    }
    let answer: LoginAnswer | undefined;
    try {
      answer = await login(onCall);
    } catch (error) {
      if (error instanceof StoreConfigError) throw error;
      throw classify(error, { action: 'logging in at', path });
    }
    const token = answer?.auth?.client_token;
    if (!token) throw classify(new Error('no token in the login answer'), { action: 'logging in at', path });
    return keep(token, answer);
  };
  return {
    async token(onCall) {
      if (session.current && context.now() < session.current.renewAt) return session.current.token;
      // Concurrent callers share one login.
      session.pending ??= fresh(onCall).finally(() => (session.pending = undefined));
      return session.pending;
    },
    forget: () => (session.current = undefined),
  };
}
