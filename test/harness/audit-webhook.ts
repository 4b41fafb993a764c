// Wires a test control plane's kube-apiserver to the operator's access audit, as a cluster
// admin would (docs/access-audit.md, "Wiring"): the chart's audit policy, the kubeconfig the
// operator publishes, then a restart of kube-apiserver with the audit flags.
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { issueCertificate } from '../../src/projection/certificates.ts';
import { AUDIT_WEBHOOK_SECRET } from '../../src/access/audit-webhook.ts';
import type { ControlPlane } from './control-plane.ts';
import { eventually } from './kube.ts';
import { kubeconfigFor } from './kubeconfig.ts';

export const AUDIT_POLICY = path.resolve(
  import.meta.dirname,
  '..',
  '..',
  'charts',
  'mlsecrets',
  'files',
  'audit-policy.yaml',
);

/** The kube-apiserver flags of the audit webhook; batches leave within a second (the default is 30 s). */
export function auditWebhookArgs(kubeconfigPath: string, policyPath = AUDIT_POLICY): string[] {
  return [
    `--audit-policy-file=${policyPath}`,
    `--audit-webhook-config-file=${kubeconfigPath}`,
    '--audit-webhook-mode=batch',
    '--audit-webhook-batch-max-wait=1s',
  ];
}

/**
 * Waits for the operator's published kubeconfig, then restarts kube-apiserver with it and the
 * audit policy: the chart's ConfigMap `policyConfigMap` when installed by the chart, else the
 * chart's file.
 */
export async function wireAuditWebhook(
  cp: ControlPlane,
  admin: k8s.KubeConfig,
  operatorNamespace: string,
  policyConfigMap?: string,
): Promise<string> {
  const core = admin.makeApiClient(k8s.CoreV1Api);
  let policy = AUDIT_POLICY;
  if (policyConfigMap) {
    const map = await core.readNamespacedConfigMap({ namespace: operatorNamespace, name: policyConfigMap });
    policy = path.join(cp.dir, 'audit-policy.yaml');
    fs.writeFileSync(policy, map.data!['policy.yaml']!);
  }
  const secret = await eventually(
    () => core.readNamespacedSecret({ namespace: operatorNamespace, name: AUDIT_WEBHOOK_SECRET }),
    (s) => Boolean(s.data?.kubeconfig),
    { what: 'the published audit webhook kubeconfig', timeoutMs: 30_000 },
  );
  const file = path.join(cp.dir, 'audit-webhook.kubeconfig');
  fs.writeFileSync(file, Buffer.from(secret.data!.kubeconfig!, 'base64'), { mode: 0o600 });
  await cp.killApiServer();
  await cp.startApiServer(auditWebhookArgs(file, policy));
  return file;
}

/** A KubeConfig of an ordinary user (a client certificate of the cluster CA): no group but system:authenticated. */
export function userKubeConfig(cp: ControlPlane, user: string): k8s.KubeConfig {
  const client = issueCertificate(cp.ca, { commonName: user, usage: 'client', validForMs: 3600_000 });
  const kc = new k8s.KubeConfig();
  kc.loadFromString(kubeconfigFor(cp.apiServerUrl, cp.ca.certPem, client));
  return kc;
}
