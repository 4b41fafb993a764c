// The parts of a ProviderContext that providers without a Kubernetes login never use.
import type { ServiceAccountTokens } from '../../src/providers/provider.port.ts';

export const noTokens: ServiceAccountTokens = {
  requestToken: () => Promise.reject(new Error('this test issues no service-account tokens')),
};

/** A clock that stands still: these providers keep no lifetimes of their own. */
export const frozenNow = (): number => 0;
