// Condition reasons and Event reasons. Stable CamelCase words: alerts and scripts match on them.

/** Event reasons users see (docs/api.md, "Events"). */
export const EventReason = {
  Synced: 'Synced',
  Rotated: 'Rotated',
  Renewed: 'Renewed',
  Expired: 'Expired',
  Revoked: 'Revoked',
  DriftCorrected: 'DriftCorrected',
  ProviderError: 'ProviderError',
  PolicyDenied: 'PolicyDenied',
  InvalidSpec: 'InvalidSpec',
  InjectionDenied: 'InjectionDenied',
  /** --refresh-mounted-pods: the running pods mounting a changed Secret were told to remount it. */
  PodsRefreshed: 'PodsRefreshed',
  /** Access audit: a managed Secret was read by a reader that was not expected. */
  UnexpectedAccess: 'UnexpectedAccess',
} as const;

/** Reasons of the Ready and Synced conditions. */
export const ConditionReason = {
  Synced: 'Synced',
  Valid: 'Valid',
  InvalidSpec: 'InvalidSpec',
  DuplicateKey: 'DuplicateKey',
  InvalidKey: 'InvalidKey',
  StoreNotFound: 'StoreNotFound',
  StoreNotReady: 'StoreNotReady',
  StoreCredentialsMissing: 'StoreCredentialsMissing',
  PolicyDenied: 'PolicyDenied',
  RemoteKeyNotFound: 'RemoteKeyNotFound',
  PropertyNotFound: 'PropertyNotFound',
  InvalidValue: 'InvalidValue',
  SecretTooLarge: 'SecretTooLarge',
  SecretConflict: 'SecretConflict',
  SecretWriteFailed: 'SecretWriteFailed',
  AccessDenied: 'AccessDenied',
  Throttled: 'Throttled',
  ProviderUnavailable: 'ProviderUnavailable',
  ProviderError: 'ProviderError',
  TemplateError: 'TemplateError',
  InvalidSecretType: 'InvalidSecretType',
  Expired: 'Expired',
  Progressing: 'Progressing',
  /** Ready (onUnexpectedRead Revoke, withheld) and Compromised (True): an unexpected read. */
  Compromised: 'Compromised',
  UnexpectedAccess: 'UnexpectedAccess',
  /** Compromised False: a person acknowledged the read (the access-acknowledged annotation). */
  Acknowledged: 'Acknowledged',
} as const;
export type ConditionReason = (typeof ConditionReason)[keyof typeof ConditionReason];
