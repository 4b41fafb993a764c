// The API server's audit events (audit.k8s.io/v1, Metadata level), reduced to the Secret reads
// the access monitor judges. Only what the audit webhook sends is trusted here: the reader as
// the API server authenticated it, never a claim of the request.

/** The parts of an audit.k8s.io/v1 Event that a Metadata-level policy carries. */
export interface AuditEvent {
  auditID?: string;
  stage?: string;
  verb?: string;
  requestURI?: string;
  user?: AuditUser;
  impersonatedUser?: AuditUser;
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: {
    resource?: string;
    apiGroup?: string;
    apiVersion?: string;
    namespace?: string;
    name?: string;
    subresource?: string;
  };
  responseStatus?: { code?: number };
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
}

export interface AuditUser {
  username?: string;
  uid?: string;
  groups?: string[];
}

/**
 * Who read: the identity the API server authenticated. A read made with impersonation is
 * judged as its real author, who chose whom to impersonate; the impersonated name is kept.
 */
export interface Reader {
  username: string;
  groups: string[];
  /** "namespace/name" when the reader is a service account. */
  serviceAccount?: string;
  /** The node name when the reader is a kubelet (system:node:<name> in system:nodes). */
  node?: string;
  /** The identity the request impersonated (kubectl --as), if any. */
  impersonating?: string;
}

export type ReadVerb = 'get' | 'list' | 'watch';

/** One read request of Secrets, as the API server recorded it. */
export interface SecretRead {
  auditID: string;
  /** When the API server received the request (ms since the epoch). */
  at: number;
  verb: ReadVerb;
  reader: Reader;
  namespace?: string;
  /** The Secret's name; absent for a list or watch of every Secret in the scope. */
  name?: string;
  /** The API server answered with data (2xx); a refused read exposed nothing. */
  allowed: boolean;
  sourceIPs: string[];
  userAgent?: string;
}

const READ_VERBS = new Set<string>(['get', 'list', 'watch']);
const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const NODE_PREFIX = 'system:node:';

/**
 * The Secret reads in an EventList body. One request yields one read: a watch when its
 * response starts (it may last an hour; its end says nothing new), anything else when its
 * response completes (the code is known then). Other stages, resources and verbs are skipped.
 */
export function secretReadsOf(body: unknown): SecretRead[] {
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return [];
  const reads: SecretRead[] = [];
  for (const item of items as AuditEvent[]) {
    const read = secretReadOf(item);
    if (read) reads.push(read);
  }
  return reads;
}

export function secretReadOf(event: AuditEvent): SecretRead | undefined {
  const ref = event.objectRef;
  if (!ref || ref.resource !== 'secrets' || (ref.apiGroup ?? '') !== '' || ref.subresource) return undefined;
  const verb = event.verb ?? '';
  if (!READ_VERBS.has(verb)) return undefined;
  const wanted = verb === 'watch' ? 'ResponseStarted' : 'ResponseComplete';
  if (event.stage !== wanted) return undefined;
  const user = event.user;
  if (!user?.username) return undefined;
  const at = Date.parse(event.requestReceivedTimestamp ?? event.stageTimestamp ?? '');
  const code = event.responseStatus?.code;
  return {
    auditID: event.auditID ?? '',
    at: Number.isNaN(at) ? 0 : at,
    verb: verb as ReadVerb,
    reader: readerOf(user, event.impersonatedUser?.username),
    namespace: ref.namespace || undefined,
    name: ref.name || nameSelected(event.requestURI),
    // A watch's ResponseStarted carries no code: it started, so it was allowed.
    allowed: code === undefined ? verb === 'watch' : code >= 200 && code < 300,
    sourceIPs: event.sourceIPs ?? [],
    userAgent: event.userAgent,
  };
}

export function readerOf(user: AuditUser, impersonating?: string): Reader {
  const username = user.username ?? '';
  const groups = user.groups ?? [];
  const reader: Reader = { username, groups };
  if (username.startsWith(SERVICE_ACCOUNT_PREFIX)) {
    const [namespace, name] = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
    if (namespace && name) reader.serviceAccount = `${namespace}/${name}`;
  }
  if (username.startsWith(NODE_PREFIX) && groups.includes('system:nodes'))
    reader.node = username.slice(NODE_PREFIX.length);
  if (impersonating) reader.impersonating = impersonating;
  return reader;
}

/**
 * The one name a list or watch selects with `fieldSelector=metadata.name=<name>` (a kubelet's
 * form). The API server puts it in objectRef.name itself; this reads the URI when it did not.
 */
function nameSelected(requestURI: string | undefined): string | undefined {
  const query = requestURI?.split('?')[1];
  if (!query) return undefined;
  const selector = new URLSearchParams(query).get('fieldSelector') ?? '';
  const match = /^metadata\.name==?([^,]+)$/.exec(selector);
  return match?.[1];
}
