import { ChannelCredentials } from '@grpc/grpc-js';
import { StoreConfigError } from '../../../../src/providers/provider.port.ts';
import { JWT } from 'google-auth-library';
import { clientOptions, parseEndpoint } from '../../../../src/providers/gcp/secret-manager.api.ts';

describe('parseEndpoint', () => {
  test.each([
    ['127.0.0.1:8085', { host: '127.0.0.1', port: 8085, plaintext: true }],
    ['127.1.2.3:9000', { host: '127.1.2.3', port: 9000, plaintext: true }],
    ['localhost:8085', { host: 'localhost', port: 8085, plaintext: true }],
    ['[::1]:8085', { host: '[::1]', port: 8085, plaintext: true }],
    [
      'secretmanager.europe-west1.rep.googleapis.com',
      {
        host: 'secretmanager.europe-west1.rep.googleapis.com',
        port: 443,
        plaintext: false,
      },
    ],
    ['10.0.0.8:443', { host: '10.0.0.8', port: 443, plaintext: false }],
    ['[fd00::1]:8443', { host: '[fd00::1]', port: 8443, plaintext: false }],
    ['localhost.example.com:443', { host: 'localhost.example.com', port: 443, plaintext: false }],
  ])('%s', (value, expected) => {
    expect(parseEndpoint(value)).toEqual(expected);
  });

  test.each(['http://127.0.0.1:8085', '127.0.0.1:0', '127.0.0.1:70000', 'host:port', '', '::1:8085'])(
    'rejects %p',
    (value) => {
      expect(() => parseEndpoint(value)).toThrow(StoreConfigError);
    },
  );
});

describe('clientOptions', () => {
  const key = { client_email: 'sa@p.iam.gserviceaccount.com', private_key: 'PEM' };

  test('ADC: nothing about credentials or endpoints', () => {
    const options = clientOptions({ projectId: 'p' });
    expect(options.projectId).toBe('p');
    expect(options.credentials).toBeUndefined();
    expect(options.apiEndpoint).toBeUndefined();
    expect(options.sslCreds).toBeUndefined();
  });

  test('a plaintext endpoint: insecure channel credentials, and no search for default credentials', () => {
    const options = clientOptions({
      projectId: 'p',
      endpoint: { host: '127.0.0.1', port: 8085, plaintext: true },
    });
    expect(options).toMatchObject({ apiEndpoint: '127.0.0.1', port: 8085, universeDomain: 'googleapis.com' });
    expect(options.sslCreds).toBeInstanceOf(ChannelCredentials);
    expect((options.sslCreds as ChannelCredentials)._isSecure()).toBe(false);
  });

  test('a TLS endpoint: the SDK builds its own secure channel', () => {
    const options = clientOptions({
      projectId: 'p',
      endpoint: { host: 'psc.example', port: 443, plaintext: false },
      credentials: key,
    });
    expect(options).toMatchObject({ apiEndpoint: 'psc.example', port: 443 });
    expect(options.sslCreds).toBeUndefined();
  });

  test('credentials: a JWT client of only email and key, with the cloud-platform scope', () => {
    const options = clientOptions({ projectId: 'p', credentials: { ...key, extra: 'x' } as typeof key });
    expect(options.credentials).toBeUndefined();
    expect(options.authClient).toBeInstanceOf(JWT);
    const jwt = options.authClient as JWT;
    expect({ email: jwt.email, key: jwt.key }).toEqual({ email: key.client_email, key: key.private_key });
    expect(jwt.scopes).toEqual(['https://www.googleapis.com/auth/cloud-platform']);
  });
});
