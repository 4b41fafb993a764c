// Labels and annotations users rely on (docs/api.md, "The managed Secret").
export const FIELD_MANAGER = 'mlsecrets';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'mlsecrets';
export const BINDING_ANNOTATION = 'mlsecrets.io/binding';
export const ISSUED_AT_ANNOTATION = 'mlsecrets.io/issued-at';
export const EXPIRES_AT_ANNOTATION = 'mlsecrets.io/expires-at';
export const DATA_HASH_ANNOTATION = 'mlsecrets.io/data-hash';
/** HMAC of the values read from the store, before generators and templates (see decisions 0003). */
export const SOURCE_HASH_ANNOTATION = 'mlsecrets.io/source-hash';
/** The label pods carry to opt in to a binding's projection by default. */
export const BINDING_LABEL = 'mlsecrets.io/binding';
/** On a PerWorkload Secret: the workload it was issued for, as "Kind/name". */
export const WORKLOAD_ANNOTATION = 'mlsecrets.io/workload';
/** Annotation listing the bindings injected into a pod (comma-separated, sorted). */
export const INJECTED_ANNOTATION = 'mlsecrets.io/injected';
/** Label on every pod the webhook changed, so the operator can watch just those pods. */
export const INJECTED_LABEL = 'mlsecrets.io/injected';

/**
 * On a SecretBinding: a time (RFC 3339) by which a person has looked into its unexpected reads.
 * Reads at or before it no longer hold the Compromised condition (nor withhold the Secret).
 */
export const ACCESS_ACKNOWLEDGED_ANNOTATION = 'mlsecrets.io/access-acknowledged';
