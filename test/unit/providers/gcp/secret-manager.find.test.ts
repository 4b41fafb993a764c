// dataFrom.find on Google Secret Manager: listing (paged, one label term sent), matching on our
// side, reading latest of each match, and what a failure anywhere does to the whole find.
import { status } from '@grpc/grpc-js';
import { ProviderError, type FindQuery } from '../../../../src/providers/provider.port.ts';
import { crc32c } from '../../../../src/providers/gcp/crc32c.ts';
import {
  createGcpProviderFactory,
  FIND_CONCURRENCY,
  FIND_PAGE_SIZE,
  labelFilter,
} from '../../../../src/providers/gcp/secret-manager.provider.ts';
import { context, fakeApiFactory, fakeSecrets, type FakeSecretManager } from './fakes.ts';

// Real Google names the project by number in what it lists; the store says "ml-proj".
const listedBase = 'projects/123456/secrets';

function grpcError(code: number, text = 'MARKER-sdk-text'): Error {
  return Object.assign(new Error(`${code} ${text}`), { code, details: text });
}

/** Adds a secret to the fake: listed with `labels`, and its latest version (or an error) readable. */
function addSecret(
  api: FakeSecretManager,
  id: string,
  labels: Record<string, string> = {},
  latest: string | Error = `value-of-${id}`,
  version = 1,
): void {
  const name = `${listedBase}/${id}`;
  api.secrets.push({ name, labels });
  if (latest instanceof Error) {
    api.versions.set(`${name}/versions/latest`, latest);
    return;
  }
  const data = Buffer.from(latest);
  api.versions.set(`${name}/versions/latest`, {
    name: `${name}/versions/${version}`,
    payload: { data, dataCrc32c: String(crc32c(data)) },
  });
}

async function setup() {
  const fake = fakeApiFactory();
  const provider = await createGcpProviderFactory(fake.make).create(
    { gcp: { projectID: 'ml-proj' } },
    context('SecretStore', fakeSecrets({})),
  );
  const ops: string[] = [];
  const find = (query: FindQuery) => provider.find!(query, (op) => ops.push(op));
  return { api: fake.api, provider, ops, find };
}

const keys = (values: { key: string }[]) => values.map((v) => v.key);

describe('find on the gcp provider', () => {
  test('lists every page, reads latest of each secret, sorted by id; counts every call', async () => {
    const { api, ops, find } = await setup();
    const total = FIND_PAGE_SIZE * 2 + 7;
    // Added in reverse: the answer is sorted by id whatever order the server lists in.
    for (let i = total - 1; i >= 0; i--)
      addSecret(api, `s-${String(i).padStart(4, '0')}`, {}, `v${i}`, i + 1);
    const found = await find({});
    expect(found).toHaveLength(total);
    expect(found[0]).toEqual({ key: 's-0000', value: Buffer.from('v0'), versionId: '1' });
    expect(found[total - 1]).toEqual({
      key: `s-${String(total - 1).padStart(4, '0')}`,
      value: Buffer.from(`v${total - 1}`),
      versionId: String(total),
    });
    expect(keys(found)).toEqual([...keys(found)].sort());
    expect(api.listed).toEqual([
      { parent: 'projects/ml-proj', pageSize: FIND_PAGE_SIZE },
      { parent: 'projects/ml-proj', pageSize: FIND_PAGE_SIZE, pageToken: String(FIND_PAGE_SIZE) },
      { parent: 'projects/ml-proj', pageSize: FIND_PAGE_SIZE, pageToken: String(FIND_PAGE_SIZE * 2) },
    ]);
    // The listed name, project number and all, is what is read.
    expect(api.accessed).toContain(`${listedBase}/s-0000/versions/latest`);
    expect(ops.filter((op) => op === 'ListSecrets')).toHaveLength(3);
    expect(ops.filter((op) => op === 'AccessSecretVersion')).toHaveLength(total);
    expect(ops).toHaveLength(3 + total);
  });

  test('reads at most FIND_CONCURRENCY secrets at once, but more than one', async () => {
    const { api, find } = await setup();
    for (let i = 0; i < 3 * FIND_CONCURRENCY; i++) addSecret(api, `s${i}`);
    await find({});
    expect(api.maxInFlight).toBe(FIND_CONCURRENCY);
  });

  test('nothing listed: no reads, an empty answer', async () => {
    const { api, ops, find } = await setup();
    expect(await find({ nameRegexp: '^x' })).toEqual([]);
    expect(api.accessed).toEqual([]);
    expect(ops).toEqual(['ListSecrets']);
  });

  describe('tags', () => {
    test('one label term goes to the server; every tag is checked on our side', async () => {
      const { api, find } = await setup();
      addSecret(api, 'hf', { team: 'a', env: 'prod' });
      addSecret(api, 'wandb', { team: 'a', env: 'dev' }); // passes the server's term, not ours
      addSecret(api, 'openai', { team: 'b', env: 'prod' });
      addSecret(api, 'bare');
      const found = await find({ tags: { team: 'a', env: 'prod' } });
      expect(keys(found)).toEqual(['hf']);
      // The first tag by key; "env" sorts before "team".
      expect(api.listed.map((r) => r.filter)).toEqual(['labels.env=prod']);
      // Only what matched everything was read.
      expect(api.accessed).toEqual([`${listedBase}/hf/versions/latest`]);
    });

    test('a server that ignores the filter changes nothing', async () => {
      const { api, find } = await setup();
      api.ignoreFilter = true;
      addSecret(api, 'hf', { team: 'a' });
      addSecret(api, 'openai', { team: 'b' });
      addSecret(api, 'bare');
      expect(keys(await find({ tags: { team: 'a' } }))).toEqual(['hf']);
    });

    test('an empty tag value needs the label present and empty', async () => {
      const { api, find } = await setup();
      addSecret(api, 'empty', { gpu: '' });
      addSecret(api, 'set', { gpu: 'a100' });
      addSecret(api, 'bare');
      expect(keys(await find({ tags: { gpu: '' } }))).toEqual(['empty']);
      // "labels.gpu=" would match secrets without the label on the emulator: not sent.
      expect(api.listed[0]?.filter).toBeUndefined();
    });

    test.each([
      [[], undefined],
      [[['team', 'a']], 'labels.team=a'],
      [
        [
          ['zone', 'eu'],
          ['app', 'llm'],
        ],
        'labels.app=llm',
      ],
      // Needing quotes (or never a Google label at all): left to our side, the next one sent.
      [
        [
          ['app', 'has space'],
          ['team', 'a'],
        ],
        'labels.team=a',
      ],
      [[['Team', 'a']], undefined],
      [[['team', 'A']], undefined],
      [[['team', 'a" OR name:x']], undefined],
      [[['team', '']], undefined],
    ] as [[string, string][], string | undefined][])('labelFilter(%j) = %p', (tags, expected) => {
      expect(labelFilter(tags)).toBe(expected);
    });
  });

  describe('names', () => {
    test('path is a prefix of the secret id', async () => {
      const { api, find } = await setup();
      for (const id of ['ml-team-a-hf', 'ml-team-a-wandb', 'ml-team-b-hf', 'other-ml-team-a'])
        addSecret(api, id);
      expect(keys(await find({ path: 'ml-team-a-' }))).toEqual(['ml-team-a-hf', 'ml-team-a-wandb']);
      expect(api.listed[0]?.filter).toBeUndefined();
    });

    test('nameRegexp is matched against the id, not the full name', async () => {
      const { api, find } = await setup();
      for (const id of ['team-a-hf', 'team-a-wandb', 'x-team-a-hf', 'team-b-hf']) addSecret(api, id);
      expect(keys(await find({ nameRegexp: '^team-a-' }))).toEqual(['team-a-hf', 'team-a-wandb']);
      // Anchored at the end too: "projects/…/secrets/" is not part of what is matched.
      expect(keys(await find({ nameRegexp: '^team-.-hf$' }))).toEqual(['team-a-hf', 'team-b-hf']);
      expect(await find({ nameRegexp: '^projects/' })).toEqual([]);
    });

    test('path, regexp and tags together must all hold', async () => {
      const { api, find } = await setup();
      addSecret(api, 'ml-hf', { team: 'a' });
      addSecret(api, 'ml-hf-old', { team: 'a' }); // fails the regexp
      addSecret(api, 'ml-wandb', { team: 'b' }); // fails the tag
      addSecret(api, 'hf', { team: 'a' }); // fails the path
      expect(keys(await find({ path: 'ml-', nameRegexp: '^[a-z]+-[a-z]+$', tags: { team: 'a' } }))).toEqual([
        'ml-hf',
      ]);
    });

    test('listed names of another shape are left out', async () => {
      const { api, find } = await setup();
      addSecret(api, 'ok');
      api.secrets.push({ name: 'projects/123456/locations/eu/secrets/regional', labels: {} });
      api.secrets.push({ name: '', labels: {} });
      expect(keys(await find({}))).toEqual(['ok']);
    });

    test('an invalid regexp is Invalid, before any call', async () => {
      const { ops, find } = await setup();
      const error = (await find({ nameRegexp: '^team-(' }).catch((e: unknown) => e)) as ProviderError;
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.category).toBe('Invalid');
      expect(error.message).toBe('dataFrom.find name.regexp "^team-(" is not a valid regular expression');
      expect(ops).toEqual([]);
    });
  });

  describe('secrets with nothing to read', () => {
    test('no enabled version (NOT_FOUND) or a disabled latest (FAILED_PRECONDITION) are skipped', async () => {
      const { api, ops, find } = await setup();
      addSecret(api, 'a-ok', {}, 'fine', 3);
      addSecret(api, 'b-no-versions', {}, grpcError(status.NOT_FOUND, 'No enabled versions found'));
      addSecret(api, 'c-disabled', {}, grpcError(status.FAILED_PRECONDITION, 'is not enabled'));
      addSecret(api, 'd-ok', {}, 'also fine', 1);
      const found = await find({});
      expect(found).toEqual([
        { key: 'a-ok', value: Buffer.from('fine'), versionId: '3' },
        { key: 'd-ok', value: Buffer.from('also fine'), versionId: '1' },
      ]);
      // Each was still asked for, and counted.
      expect(ops.filter((op) => op === 'AccessSecretVersion')).toHaveLength(4);
    });
  });

  describe('errors fail the whole find, classified, with messages of our own', () => {
    test.each([
      [status.PERMISSION_DENIED, 'AccessDenied'],
      [status.UNAUTHENTICATED, 'AccessDenied'],
      [status.RESOURCE_EXHAUSTED, 'Throttled'],
      [status.UNAVAILABLE, 'Unavailable'],
      [status.DEADLINE_EXCEEDED, 'Unavailable'],
      [status.INVALID_ARGUMENT, 'Invalid'],
    ])('listing fails with code %i: %s', async (code, category) => {
      const { api, find } = await setup();
      addSecret(api, 'hf');
      api.listError = grpcError(code);
      const error = (await find({ tags: { team: 'a' } }).catch((e: unknown) => e)) as ProviderError;
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.category).toBe(category);
      expect(error.message).toMatch(/^Google Secret Manager.*project "ml-proj"/);
      expect(error.message).not.toContain('MARKER');
      expect(api.accessed).toEqual([]);
    });

    test('a failure on a later page fails the find: no partial answer', async () => {
      const { api, find } = await setup();
      for (let i = 0; i < FIND_PAGE_SIZE + 1; i++) addSecret(api, `s${i}`);
      api.listErrorOnPage = { page: 1, error: grpcError(status.UNAVAILABLE) };
      const error = (await find({}).catch((e: unknown) => e)) as ProviderError;
      expect(error.category).toBe('Unavailable');
      expect(api.accessed).toEqual([]);
    });

    test('a page token the server gave before ends the listing as Unavailable', async () => {
      const { api, ops, find } = await setup();
      api.listSecrets = async (request) => {
        api.listed.push(request);
        return { secrets: [], nextPageToken: 'again' };
      };
      const error = (await find({}).catch((e: unknown) => e)) as ProviderError;
      expect(error.category).toBe('Unavailable');
      expect(error.message).toMatch(/listing the secrets of project "ml-proj" did not end/);
      expect(ops).toEqual(['ListSecrets', 'ListSecrets']);
    });

    test.each([
      [status.PERMISSION_DENIED, 'AccessDenied', /denied access to secret "b-denied" version "latest"/],
      [status.UNAVAILABLE, 'Unavailable', /did not answer for secret "b-denied" version "latest"/],
      [status.RESOURCE_EXHAUSTED, 'Throttled', /throttling requests for secret "b-denied"/],
    ])('reading one secret fails with code %i: %s, naming it', async (code, category, message) => {
      const { api, find } = await setup();
      addSecret(api, 'a-ok');
      addSecret(api, 'b-denied', {}, grpcError(code));
      addSecret(api, 'c-ok');
      const error = (await find({}).catch((e: unknown) => e)) as ProviderError;
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.category).toBe(category);
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/in project "ml-proj"/);
      expect(error.message).not.toContain('MARKER');
    });

    test('a damaged payload (checksum mismatch) fails the find as Invalid', async () => {
      const { api, find } = await setup();
      addSecret(api, 'ok');
      api.secrets.push({ name: `${listedBase}/damaged`, labels: {} });
      api.versions.set(`${listedBase}/damaged/versions/latest`, {
        name: `${listedBase}/damaged/versions/1`,
        payload: { data: Buffer.from('hello'), dataCrc32c: '12345' },
      });
      const error = (await find({}).catch((e: unknown) => e)) as ProviderError;
      expect(error.category).toBe('Invalid');
      expect(error.message).toBe('payload checksum mismatch for "damaged"');
    });

    test('after a failure no further reads are started', async () => {
      const { api, find } = await setup();
      addSecret(api, 'a-0', {}, grpcError(status.PERMISSION_DENIED));
      for (let i = 1; i < 5 * FIND_CONCURRENCY; i++) addSecret(api, `b-${String(i).padStart(2, '0')}`);
      await expect(find({})).rejects.toBeInstanceOf(ProviderError);
      // Workers outlive the rejection: let those in flight end (each fake read takes one turn
      // of the event loop), then give the workers more turns to start whatever they would.
      for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
      expect(api.inFlight).toBe(0);
      // The first FIND_CONCURRENCY were in flight when the failure came; nothing after them.
      expect(api.accessed).toHaveLength(FIND_CONCURRENCY);
    });
  });
});
