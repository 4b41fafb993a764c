/** Builds a kubeconfig (YAML is a superset of JSON, so JSON it is) with embedded credentials. */
export function kubeconfigFor(
  server: string,
  caPem: string,
  client: { certPem: string; keyPem: string },
): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'mlsecrets-local', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
      users: [
        {
          name: 'admin',
          user: { 'client-certificate-data': b64(client.certPem), 'client-key-data': b64(client.keyPem) },
        },
      ],
      contexts: [{ name: 'mlsecrets-local', context: { cluster: 'mlsecrets-local', user: 'admin' } }],
      'current-context': 'mlsecrets-local',
    },
    null,
    2,
  );
}
