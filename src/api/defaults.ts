// The defaults the CRD descriptions promise, resolved in one place.
import type { SecretBinding } from './types.ts';
import { parseDuration } from '../rotation/duration.ts';
import { validateCron } from '../rotation/schedule.ts';

export const DEFAULT_TTL_MS = 24 * 3600_000;
export const DEFAULT_REFRESH_MS = 3600_000;

/** A binding's lifetime settings with defaults applied, in milliseconds. */
export interface EffectiveLifetime {
  ttlMs: number;
  refreshMs: number;
  rotationSchedule?: string;
  timeZone: string;
  rotateInStore: boolean;
  onExpiry: 'Delete' | 'Retain';
}

/** Resolves lifetime defaults; throws an Error with a readable message for what the schema let through. */
export function effectiveLifetime(binding: SecretBinding): EffectiveLifetime {
  const lifetime = binding.spec.lifetime ?? {};
  const ttlMs = lifetime.ttl ? parseDuration(lifetime.ttl) : DEFAULT_TTL_MS;
  const refreshMs = lifetime.refreshInterval
    ? parseDuration(lifetime.refreshInterval)
    : Math.min(DEFAULT_REFRESH_MS, ttlMs);
  if (ttlMs < 1000) throw new Error(`lifetime.ttl must be at least 1s, got "${lifetime.ttl}"`);
  if (refreshMs < 1000)
    throw new Error(`lifetime.refreshInterval must be at least 1s, got "${lifetime.refreshInterval}"`);
  if (refreshMs > ttlMs) throw new Error('lifetime.ttl must be at least lifetime.refreshInterval');
  const timeZone = lifetime.timeZone ?? 'UTC';
  if (lifetime.rotationSchedule) {
    const problem = validateCron(lifetime.rotationSchedule, timeZone);
    if (problem) throw new Error(`lifetime.rotationSchedule: ${problem}`);
  }
  return {
    ttlMs,
    refreshMs,
    rotationSchedule: lifetime.rotationSchedule,
    timeZone,
    rotateInStore: lifetime.rotateInStore ?? false,
    onExpiry: lifetime.onExpiry ?? 'Delete',
  };
}

/** The managed Secret's name. */
export function targetName(binding: SecretBinding): string {
  return binding.spec.target?.name || binding.metadata.name!;
}

/** The Secret a PerWorkload binding issues for one workload. */
export function perWorkloadSecretName(binding: SecretBinding, workload: { name: string }): string {
  return `${targetName(binding)}-${workload.name}`.slice(0, 253);
}

/** Kinds whose pods are scoped to their top-level controller in PerWorkload bindings. */
export const DEFAULT_WORKLOAD_KINDS = [
  'Job',
  'PyTorchJob',
  'TFJob',
  'MPIJob',
  'XGBoostJob',
  'PaddleJob',
  'JAXJob',
  'TrainJob',
];
