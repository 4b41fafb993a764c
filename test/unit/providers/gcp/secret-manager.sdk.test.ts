// The SDK adapter with the real client, where no server is needed: a client whose set-up
// fails (credentials cannot be loaded) must fail the call, not the process.
import { classify } from '../../../../src/providers/gcp/errors.ts';
import { sdkSecretManagerApi } from '../../../../src/providers/gcp/secret-manager.api.ts';

describe('sdkSecretManagerApi when the client cannot be set up', () => {
  const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  const unhandled: unknown[] = [];
  const record = (reason: unknown) => unhandled.push(reason);

  beforeAll(() => {
    // Application Default Credentials pointing at a file that does not exist: set-up fails
    // deterministically, before any connection, on any machine.
    process.env.GOOGLE_APPLICATION_CREDENTIALS = '/nonexistent/mlsecrets-test-credentials.json';
    process.on('unhandledRejection', record);
  });

  afterAll(() => {
    process.off('unhandledRejection', record);
    if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
  });

  test('every call rejects with a classifiable error; nothing is left unhandled; close() resolves', async () => {
    const api = sdkSecretManagerApi({ projectId: 'ml-proj' });
    for (let attempt = 0; attempt < 2; attempt++) {
      const error: unknown = await api
        .accessSecretVersion('projects/ml-proj/secrets/s/versions/latest')
        .catch((e: unknown) => e);
      expect(error).toBeDefined();
      // Outside jest the auth library words this as a credentials problem (AccessDenied);
      // jest's separate realm keeps it from rewording fs errors, so only "classified" is checked.
      expect(classify(error, { project: 'ml-proj', key: 's' }).message).toMatch(/^Google Secret Manager/);
    }
    await expect(api.listSecrets({ parent: 'projects/ml-proj', pageSize: 1 })).rejects.toBeDefined();
    await expect(api.close()).resolves.toBeUndefined();
    // Let any detached promise chains settle before looking: unhandled rejections are
    // reported once the microtask queue drains, so a few turns of the event loop are enough.
    for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });
});
