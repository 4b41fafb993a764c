import { beginLeakRun } from './leak-run.ts';

/**
 * The e2e project starts a cluster with a real node per file (node-cluster.ts); its global
 * hooks only keep the books of the suite-wide leak scan. Each file scans its own cluster's
 * Events, status and pod logs before stopping it.
 */
export default function e2eGlobalSetup(): void {
  beginLeakRun('e2e');
}
