import { beginLeakRun } from './leak-run.ts';

/**
 * The faults project starts its control planes per file; its global hooks only keep the books
 * of the suite-wide leak scan (leak-run.ts). Each fault file scans its own cluster's Events and
 * status before stopping it (scanClusterBeforeStop).
 */
export default function faultsGlobalSetup(): void {
  beginLeakRun('faults');
}
