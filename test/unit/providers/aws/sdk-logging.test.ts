import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { withoutSdkLogging } from '../../../../src/providers/aws/aws-api.ts';

const middlewareNames = (client: SecretsManagerClient): string[] =>
  client.middlewareStack.identify().map((entry) => entry.split(' ')[0]!);

test("withoutSdkLogging takes the SDK's logger middleware (a sensitive-field walk of every answer) out of the stack", () => {
  const config = { region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };
  expect(middlewareNames(new SecretsManagerClient(config))).toContain('loggerMiddleware');
  const quiet = withoutSdkLogging(new SecretsManagerClient(config));
  expect(middlewareNames(quiet)).not.toContain('loggerMiddleware');
  // Only that one: signing, retries and the rest stay.
  expect(middlewareNames(quiet).length).toBe(middlewareNames(new SecretsManagerClient(config)).length - 1);
});
