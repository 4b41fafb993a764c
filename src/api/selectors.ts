// Matching of the API's label selectors and image globs, shared by the webhook, the store
// policies and the CLI.
import { BINDING_LABEL } from './labels.ts';
import type { LabelSelector, SecretBinding } from './types.ts';

export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries((selector.matchLabels ?? {}) as Record<string, string>)) {
    if (labels[key] !== value) return false;
  }
  for (const expression of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, expression.key);
    const value = labels[expression.key];
    const values = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        if (!has || !values.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Glob with * (any run of characters) and ? (one character), anchored. */
export function globMatches(pattern: string, value: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return regex.test(value);
}

/** The selector a binding projects by: its own, or pods labelled mlsecrets.io/binding=<name>. */
export function projectionSelector(binding: SecretBinding): LabelSelector {
  return binding.spec.projection?.selector ?? { matchLabels: { [BINDING_LABEL]: binding.metadata.name! } };
}
