// The attestation gate: what a pod must be before a binding's Secret is injected into it.
import type { Projection } from '../api/types.ts';
import { globMatches } from '../api/selectors.ts';
import type { PodLike } from './pod.ts';

/** The first failed requirement, in words for the InjectionDenied Event; undefined when all hold. */
export function checkRequirements(
  pod: PodLike,
  requirements: Projection['requirements'],
): string | undefined {
  if (!requirements) return undefined;
  const serviceAccount = pod.spec.serviceAccountName || 'default';
  const allowedAccounts = requirements.serviceAccountNames ?? [];
  if (allowedAccounts.length > 0 && !allowedAccounts.includes(serviceAccount)) {
    return `service account "${serviceAccount}" is not one of ${allowedAccounts.map((a) => `"${a}"`).join(', ')}`;
  }
  const containers = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  for (const container of containers) {
    const image = container.image ?? '';
    if (requirements.imageDigestPinned && !/@sha256:[0-9a-f]{64}$/.test(image)) {
      return `image "${image}" of container "${container.name}" is not pinned by @sha256 digest`;
    }
    const allowed = requirements.allowedImages ?? [];
    if (
      allowed.length > 0 &&
      !allowed.some(
        (pattern) =>
          globMatches(pattern, image.replace(/@sha256:[0-9a-f]{64}$/, '')) || globMatches(pattern, image),
      )
    ) {
      return `image "${image}" of container "${container.name}" matches none of the allowed images`;
    }
  }
  return undefined;
}
