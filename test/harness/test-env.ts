/** Environment variables through which global-setup tells test workers where things run. */
export const TEST_ENV = {
  kubeconfig: 'MLSECRETS_TEST_KUBECONFIG',
  binDir: 'MLSECRETS_TEST_BIN_DIR',
  workDir: 'MLSECRETS_TEST_DIR',
  motoEndpoint: 'MLSECRETS_TEST_MOTO_ENDPOINT',
  gcpEndpoint: 'MLSECRETS_TEST_GCP_ENDPOINT',
} as const;

/** Reads a variable global-setup must have set; a clear error when a test runs outside it. */
export function testEnv(name: keyof typeof TEST_ENV): string {
  const value = process.env[TEST_ENV[name]];
  if (!value) throw new Error(`${TEST_ENV[name]} is not set: run integration tests through jest (npm test)`);
  return value;
}

/** The namespace in-process operators keep their state in; global-setup creates it. */
export const OPERATOR_NAMESPACE = 'mlsecrets-system';
