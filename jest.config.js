// Jest runs our TypeScript as native ESM (node --experimental-vm-modules): @kubernetes/client-node
// 2.x is ESM-only. @swc/jest strips types per file; `tsc --noEmit` is the type check.
// See docs/decisions/0002-typescript-toolchain.md.
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2024' },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/test/setup/runtime.ts'],
  // The cache holds tools and `npm run cluster:up`'s etcd data, whose `*.snap` files Jest
  // would otherwise take for obsolete snapshots and fail the run under --ci.
  modulePathIgnorePatterns: ['<rootDir>/.cache/'],
};

export default {
  // Integration tests wait on a real API server; unit tests finish far sooner either way.
  testTimeout: 60_000,
  // Every failure message also goes to the suite-wide leak scan (test/harness/leak-run.ts).
  reporters: ['default', '<rootDir>/test/harness/leak-reporter.ts'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
    // Fault injection (`npm run test:faults`): each file starts its own control plane and
    // emulators, because it kills, slows or blocks them. Run one file at a time.
    // Its global hooks only keep the books of the suite-wide leak scan; each file scans its own
    // cluster's Events and status before stopping it (scanClusterBeforeStop in leak-run.ts).
    // End to end on a real node (`npm run test:e2e`): each file starts its own cluster with a
    // kubelet, and the node is the machine's, so one file at a time.
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/e2e-global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/e2e-global-teardown.ts',
    },
    {
      ...common,
      displayName: 'faults',
      testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/faults-global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/faults-global-teardown.ts',
    },
  ],
};
