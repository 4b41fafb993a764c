// `mlsecrets audit --access`: reads grouped by Secret and reader, unexpected first, from the
// operator's audit records (here from stdin, as `--audit-log -` takes them).
import { accessReport } from '../../../src/cli/access.command.ts';
import { cli } from './run-cli.ts';

const now = Date.parse('2026-01-15T12:00:00Z');
const minutesAgo = (m: number) => new Date(now - m * 60_000).toISOString();

function record(
  secret: string,
  username: string,
  expected: boolean,
  readAt: string,
  extra: object = {},
): string {
  return JSON.stringify({
    time: readAt,
    audit: 'mlsecrets',
    replica: 'r1',
    action: 'access',
    outcome: 'success',
    binding: secret,
    secret,
    access: {
      auditID: Math.random().toString(36),
      readAt,
      verb: 'get',
      reader: { username, groups: [] },
      sourceIPs: ['10.0.0.7'],
      expected,
      why: expected ? 'the operator' : 'not an expected reader',
      ...extra,
    },
  });
}

const lines = [
  '{"level":"info","message":"operator started"}',
  'not json at all',
  record('ml/hf', 'system:serviceaccount:mlsecrets-system:mlsecrets', true, minutesAgo(5)),
  record('ml/hf', 'alice', false, minutesAgo(30)),
  record('ml/hf', 'alice', false, minutesAgo(10), { verb: 'list' }),
  record('ml/wandb', 'bob', true, minutesAgo(2)),
  record('ml/old', 'eve', false, minutesAgo(60 * 48)),
  record('ml', 'system:serviceaccount:mlsecrets-system:mlsecrets', true, minutesAgo(1), {
    verb: 'watch',
    scope: 'namespace',
    secrets: 12,
  }),
];

test('groups by Secret, reader and verdict; unexpected first; older than --since left out', () => {
  const report = accessReport(lines, now - 24 * 3600_000, '24h');
  expect(report).toMatchObject({ records: 5, unexpected: 2 });
  expect(report.rows.map((r) => [r.expected, r.secret, r.reader, r.reads, r.verbs.join(',')])).toEqual([
    [false, 'ml/hf', 'alice', 2, 'get,list'],
    [true, 'ml/*', 'system:serviceaccount:mlsecrets-system:mlsecrets', 1, 'watch'],
    [true, 'ml/wandb', 'bob', 1, 'get'],
    [true, 'ml/hf', 'system:serviceaccount:mlsecrets-system:mlsecrets', 1, 'get'],
  ]);
  expect(report.rows[0]).toMatchObject({
    firstAt: minutesAgo(30),
    lastAt: minutesAgo(10),
    sourceIPs: ['10.0.0.7'],
  });
});

test('the command reads records from stdin, exits 1 on unexpected reads, 0 without', async () => {
  const flagged = await cli(['audit', '--access', '--audit-log', '-'], { stdin: lines.join('\n') });
  expect(flagged.code).toBe(1);
  expect(flagged.stdout).toContain('5 reads of managed Secrets in the last 24h; 2 unexpected reads');
  const firstRow = flagged.stdout.split('\n').find((l) => l.startsWith('NO'));
  expect(firstRow).toMatch(
    /^NO\s+ml\/hf\s+alice\s+get,list\s+2\s+10m ago\s+10\.0\.0\.7\s+not an expected reader/,
  );
  const quiet = await cli(['audit', '--access', '--audit-log', '-', '--since', '3m'], {
    stdin: lines.join('\n'),
  });
  expect(quiet.code).toBe(0);
  expect(quiet.stdout).toContain('2 reads of managed Secrets in the last 3m; 0 unexpected reads');
  const other = await cli(['audit', '--access', '--audit-log', '-', '-n', 'cv'], { stdin: lines.join('\n') });
  expect(other.stdout).toContain('0 reads of managed Secrets');
  const json = await cli(['audit', '--access', '--audit-log', '-', '-o', 'json'], {
    stdin: lines.join('\n'),
  });
  expect(JSON.parse(json.stdout)).toMatchObject({ records: 5, unexpected: 2 });
  expect((await cli(['audit', '--access', '--since', 'soon', '--audit-log', '-'])).code).toBe(2);
});
