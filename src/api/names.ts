// Kubernetes object name rules the operator checks before it asks the API.

/** True when `name` is a valid name for a Secret (a DNS subdomain, at most 253 characters). */
export function isValidSecretName(name: string): boolean {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);
}
