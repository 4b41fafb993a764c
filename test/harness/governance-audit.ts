// What the governance scenario must leave in the audit trail, whoever runs the operator: the
// integration test (an in-process operator) and the e2e test (the chart's pods on a real node)
// build the same bindings and pods and check their records here.
import type { AuditRecord } from '../../src/observability/audit.ts';

/**
 * The records of the bindings `served` (a shared Secret, rotated on a schedule, that admits
 * service account `trainer` only) and `per-job` (a PerWorkload Secret of Job `train`), read
 * from ClusterSecretStore `store`, with pods `allowed` (as `trainer`) and `refused`.
 */
export function expectGovernanceRecords(records: AuditRecord[], team: string, store: string): void {
  const of = (action: string, name: string) =>
    records.filter((r) => r.action === action && r.binding === `${team}/${name}`);
  // Exactly one issue per Secret, one injection, one denial.
  expect(of('issue', 'served')).toHaveLength(1);
  expect(of('issue', 'served')[0]).toMatchObject({
    outcome: 'success',
    store: `ClusterSecretStore/${store}`,
  });
  expect(of('issue', 'served')[0]!.sources).toEqual([
    { key: 'source', versionId: expect.stringMatching(/^\d+$/) },
  ]);
  expect(of('issue', 'per-job')).toHaveLength(1);
  expect(of('issue', 'per-job')[0]!.message).toMatch(/Secret "per-job-train" issued for Job "train"/);
  expect(of('rotate', 'served').length).toBeGreaterThanOrEqual(1);
  expect(of('inject', 'served')).toEqual([
    expect.objectContaining({
      outcome: 'success',
      secret: 'served',
      workload: { kind: 'Pod', name: 'allowed' },
      serviceAccount: 'trainer',
    }),
  ]);
  expect(of('inject-deny', 'served')).toEqual([
    expect.objectContaining({
      outcome: 'failure',
      workload: { kind: 'Pod', name: 'refused' },
      serviceAccount: 'default',
      message: expect.stringMatching(/service account "default" is not one of "trainer"/),
    }),
  ]);
  expect(records.every((r) => typeof r.binding === 'string' && r.binding.startsWith(`${team}/`))).toBe(true);
}
