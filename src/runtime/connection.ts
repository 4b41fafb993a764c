// How KubeHttp reaches the API server: its address, and per request the authentication
// headers and the connection pool to use.
import fs from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, type Dispatcher } from 'undici';

/** What one request needs: headers (authentication) and the shared connection pool. */
export interface RequestAuth {
  headers: Record<string, string>;
  dispatcher: Dispatcher | undefined;
}

/** The API server's address and how to authenticate to it. */
export interface KubeConnection {
  readonly server: string;
  authenticate(method: string, url: string): Promise<RequestAuth>;
}

/**
 * How long one connection pool serves before it is built afresh, so that rotated client
 * certificates or CA files are picked up (tokens are read per request anyway).
 */
const POOL_MAX_AGE_MS = 5 * 60_000;

/** A projected service-account token is rotated by the kubelet; client-go re-reads it each minute. */
const TOKEN_FILE_MAX_AGE_MS = 60_000;

/** TLS material and credentials, as a kubeconfig or a pod's service account provides them. */
export interface ConnectionSettings {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  tokenFile?: string;
  skipTLSVerify?: boolean;
  tlsServerName?: string;
}

/**
 * A connection from plain settings: one undici pool, built once, with keep-alive. This covers
 * the two ways the operator runs in practice (in a pod with its service account, or from a
 * kubeconfig with embedded certificates or a token) without loading @kubernetes/client-node,
 * whose generated API models cost ~45 MiB of RSS.
 */
export function connectionFrom(settings: ConnectionSettings): KubeConnection {
  const server = settings.server.replace(/\/$/, '');
  if (server.startsWith('http:') && !settings.skipTLSVerify)
    throw new Error('HTTP protocol is not allowed when insecure-skip-tls-verify is not set');
  // HTTP/1.1 keep-alive connections, not HTTP/2 (undici 8's default): the operator's calls are
  // small and many, and per call HTTP/2 cost the API server ~10 % and this process ~30 % more
  // CPU than a pool of HTTP/1.1 connections (measured on the local control plane).
  const dispatcher = new Agent({
    allowH2: false,
    connect: {
      ...(settings.ca ? { ca: settings.ca } : {}),
      ...(settings.cert ? { cert: settings.cert } : {}),
      ...(settings.key ? { key: settings.key } : {}),
      ...(settings.skipTLSVerify ? { rejectUnauthorized: false } : {}),
      ...(settings.tlsServerName ? { servername: settings.tlsServerName } : {}),
      keepAlive: true,
      keepAliveInitialDelay: 30_000,
    },
  });
  let token: { value: string; readAt: number } | undefined;
  const bearer = (): string | undefined => {
    if (settings.token) return settings.token;
    if (!settings.tokenFile) return undefined;
    const now = Date.now();
    if (!token || now - token.readAt > TOKEN_FILE_MAX_AGE_MS)
      token = { value: fs.readFileSync(settings.tokenFile, 'utf8').trim(), readAt: now };
    return token.value;
  };
  return {
    server,
    async authenticate(): Promise<RequestAuth> {
      const value = bearer();
      const headers: Record<string, string> = value ? { authorization: `Bearer ${value}` } : {};
      return { headers, dispatcher };
    },
  };
}

/**
 * A connection through client-node's KubeConfig, for everything else a kubeconfig can say
 * (exec plugins, OIDC, proxies, basic auth). client-node builds a new undici Agent on every
 * applySecurityAuthentication; using it per request opened a new TLS connection (and OpenSSL
 * context) for every API call, so requests share one pool, renewed every few minutes.
 */
export async function clientNodeConnection(kubeConfig: KubeConfig): Promise<KubeConnection> {
  // The request context alone, not the package index with its generated API models.
  const { HttpMethod, RequestContext } = await import('@kubernetes/client-node/dist/gen/http/http.js');
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  let pool: { dispatcher: Dispatcher | undefined; createdAt: number } | undefined;
  const shared = (fresh: Dispatcher | undefined): Dispatcher | undefined => {
    const now = Date.now();
    if (pool && now - pool.createdAt < POOL_MAX_AGE_MS) return pool.dispatcher;
    const old = pool?.dispatcher;
    pool = { dispatcher: fresh, createdAt: now };
    // Lets running requests (watches included) finish on their connections, then closes them.
    void old?.close().catch(() => undefined);
    return fresh;
  };
  return {
    server: cluster.server.replace(/\/$/, ''),
    async authenticate(method, url) {
      const context = new RequestContext(url, HttpMethod[method as keyof typeof HttpMethod]);
      await kubeConfig.applySecurityAuthentication(context);
      return {
        headers: context.getHeaders(),
        dispatcher: shared(context.getDispatcher() as Dispatcher | undefined),
      };
    },
  };
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** In a pod: the service account's token and CA, the API server from the environment. */
export function inClusterSettings(env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new Error('not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: fs.readFileSync(path.join(SERVICE_ACCOUNT, 'ca.crt')),
    tokenFile: path.join(SERVICE_ACCOUNT, 'token'),
  };
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  clusters?: { name: string; cluster?: Record<string, unknown> }[];
  users?: { name: string; user?: Record<string, unknown> }[];
}

/** Keys this module handles; a kubeconfig using any other falls back to client-node. */
const CLUSTER_KEYS = new Set([
  'server',
  'certificate-authority',
  'certificate-authority-data',
  'insecure-skip-tls-verify',
  'tls-server-name',
  'extensions',
]);
const USER_KEYS = new Set([
  'client-certificate',
  'client-certificate-data',
  'client-key',
  'client-key-data',
  'token',
  'tokenFile',
  'extensions',
]);

/**
 * The settings of a kubeconfig file's current context, or undefined when it uses anything
 * beyond certificates, tokens and a CA (exec plugins, auth providers, proxies, basic auth):
 * those are left to client-node.
 */
export async function kubeconfigSettings(file: string): Promise<ConnectionSettings | undefined> {
  const text = fs.readFileSync(file, 'utf8');
  // A JSON kubeconfig needs no YAML parser (js-yaml costs ~4 MiB of memory; in a pod it is not
  // loaded at all).
  const doc = (
    text.trimStart().startsWith('{') ? JSON.parse(text) : (await import('js-yaml')).load(text)
  ) as KubeconfigFile;
  const dir = path.dirname(file);
  const context = doc.contexts?.find((c) => c.name === doc['current-context'])?.context;
  const cluster = doc.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === context?.user)?.user ?? {};
  if (!cluster || typeof cluster.server !== 'string') return undefined;
  if (Object.keys(cluster).some((k) => !CLUSTER_KEYS.has(k))) return undefined;
  if (Object.keys(user).some((k) => !USER_KEYS.has(k))) return undefined;
  const material = (data: unknown, fileName: unknown): Buffer | undefined =>
    typeof data === 'string'
      ? Buffer.from(data, 'base64')
      : typeof fileName === 'string'
        ? fs.readFileSync(path.resolve(dir, fileName))
        : undefined;
  return {
    server: cluster.server,
    ca: material(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: material(user['client-certificate-data'], user['client-certificate']),
    key: material(user['client-key-data'], user['client-key']),
    ...(typeof user.token === 'string' ? { token: user.token } : {}),
    ...(typeof user.tokenFile === 'string' ? { tokenFile: path.resolve(dir, user.tokenFile) } : {}),
    skipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    ...(typeof cluster['tls-server-name'] === 'string' ? { tlsServerName: cluster['tls-server-name'] } : {}),
  };
}

/** The operator's connection: from `kubeconfig` when given, else the pod's service account. */
export async function loadConnection(kubeconfig: string | undefined): Promise<KubeConnection> {
  const settings = kubeconfig ? await kubeconfigSettings(kubeconfig) : inClusterSettings();
  if (settings) return connectionFrom(settings);
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig!);
  return clientNodeConnection(kubeConfig);
}
