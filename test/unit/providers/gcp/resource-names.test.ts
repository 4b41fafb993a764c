import { ProviderError } from '../../../../src/providers/provider.port.ts';
import {
  isValidProjectID,
  secretName,
  secretVersionName,
  versionIdOf,
} from '../../../../src/providers/gcp/resource-names.ts';

describe('secretVersionName', () => {
  test('latest by default', () => {
    expect(secretVersionName('ml-proj', 'hf-token')).toBe(
      'projects/ml-proj/secrets/hf-token/versions/latest',
    );
  });

  test.each([
    ['a number', '3', 'projects/ml-proj/secrets/hf-token/versions/3'],
    ['an alias', 'prod', 'projects/ml-proj/secrets/hf-token/versions/prod'],
    ['an alias with - and _', 'blue_green-2', 'projects/ml-proj/secrets/hf-token/versions/blue_green-2'],
    ['latest spelled out', 'latest', 'projects/ml-proj/secrets/hf-token/versions/latest'],
  ])('%s', (_name, version, expected) => {
    expect(secretVersionName('ml-proj', 'hf-token', version)).toBe(expected);
  });

  test('a full resource name as the key, in the same or another project', () => {
    expect(secretVersionName('ml-proj', 'projects/shared/secrets/wandb', '2')).toBe(
      'projects/shared/secrets/wandb/versions/2',
    );
    expect(secretName('ml-proj', 'projects/123456789/secrets/wandb')).toBe(
      'projects/123456789/secrets/wandb',
    );
  });

  test.each([
    ['a path-like key', 'ml/huggingface'],
    ['an empty key', ''],
    ['a full name with a version', 'projects/p/secrets/s/versions/1'],
    ['a full name with a bad id', 'projects/p/secrets/a.b'],
    ['a key over 255 characters', 'a'.repeat(256)],
  ])('rejects %s as Invalid without a call', (_name, key) => {
    expect(() => secretVersionName('ml-proj', key)).toThrow(ProviderError);
    try {
      secretVersionName('ml-proj', key);
    } catch (error) {
      expect((error as ProviderError).category).toBe('Invalid');
      expect((error as ProviderError).message).toMatch(/is not a secret id/);
    }
  });

  test.each([['0'], ['1/../../x'], ['-1'], ['a b'], ['']])('rejects version %p', (version) => {
    expect(() => secretVersionName('ml-proj', 'hf-token', version)).toThrow(
      /is not "latest", a version number or an alias/,
    );
  });
});

describe('versionIdOf', () => {
  test('the last segment of a version name', () => {
    expect(versionIdOf('projects/123/secrets/s/versions/7')).toBe('7');
  });
  test('undefined without one', () => {
    expect(versionIdOf(undefined)).toBeUndefined();
    expect(versionIdOf(null)).toBeUndefined();
    expect(versionIdOf('projects/p/secrets/s')).toBeUndefined();
  });
});

describe('isValidProjectID', () => {
  test.each(['my-ml-project', '123456789012', 'example.com:ml-proj'])('accepts %p', (id) => {
    expect(isValidProjectID(id)).toBe(true);
  });
  test.each(['', 'a/b', 'has space'])('rejects %p', (id) => {
    expect(isValidProjectID(id)).toBe(false);
  });
});
