import fs from 'node:fs';
import path from 'node:path';
import { FLAGS, loadConfig, parseAddress } from '../../../src/config/config.ts';

const HOST = 'node-1';

describe('loadConfig', () => {
  test('defaults with no flags and no environment', () => {
    expect(loadConfig([], {}, HOST)).toEqual({
      kubeconfig: undefined,
      metricsAddress: ':8080',
      healthAddress: ':8081',
      webhookAddress: ':9443',
      namespaces: [],
      operatorNamespace: 'mlsecrets-system',
      createOperatorNamespace: false,
      logLevel: 'info',
      workers: 8,
      instance: HOST,
      webhook: true,
      webhookUrl: undefined,
      webhookFailurePolicy: 'Ignore',
      webhookService: 'mlsecrets-webhook',
      workloadKinds: [
        'Job',
        'PyTorchJob',
        'TFJob',
        'MPIJob',
        'XGBoostJob',
        'PaddleJob',
        'JAXJob',
        'TrainJob',
      ],
      auditLog: 'stdout',
      leaderElect: true,
      leaderElectionId: 'mlsecrets-leader',
      leaderElectionLeaseDurationMs: 10_000,
      leaderElectionRenewDeadlineMs: 7_000,
      leaderElectionRetryPeriodMs: 2_000,
      shards: 'off',
      shardLeaseDurationMs: 15_000,
      refreshMountedPods: false,
      accessAudit: {
        enabled: false,
        url: undefined,
        expectedReaders: {
          users: ['system:kube-controller-manager'],
          groups: [],
          serviceAccounts: ['kube-system/generic-garbage-collector', 'kube-system/namespace-controller'],
        },
        readWindowMs: 300_000,
        readsPerConsumer: 20,
        queueCapacity: 10_000,
      },
    });
  });

  test('environment variables are used', () => {
    const config = loadConfig(
      [],
      {
        KUBECONFIG: '/tmp/kc',
        MLSECRETS_METRICS_ADDR: '127.0.0.1:9090',
        MLSECRETS_HEALTH_ADDR: ':0',
        MLSECRETS_WEBHOOK_ADDR: '0.0.0.0:8443',
        MLSECRETS_NAMESPACES: 'a,b',
        POD_NAMESPACE: 'ops',
        MLSECRETS_LOG_LEVEL: 'debug',
        MLSECRETS_WORKERS: '3',
        POD_NAME: 'mlsecrets-abc',
        MLSECRETS_WEBHOOK_URL: 'https://127.0.0.1:9443',
        MLSECRETS_WEBHOOK_FAILURE_POLICY: 'Fail',
        MLSECRETS_WORKLOAD_KINDS: 'Job, PyTorchJob',
        MLSECRETS_SHARDS: 'auto',
        MLSECRETS_SHARD_LEASE_DURATION: '5s',
        MLSECRETS_REFRESH_MOUNTED_PODS: 'true',
        MLSECRETS_ACCESS_AUDIT: 'true',
        MLSECRETS_ACCESS_AUDIT_URL: 'https://10.96.0.10:443/audit',
        MLSECRETS_ACCESS_EXPECTED_USERS: 'ci-bot',
        MLSECRETS_ACCESS_EXPECTED_GROUPS: 'sre, ml-ci',
        MLSECRETS_ACCESS_EXPECTED_SERVICE_ACCOUNTS: 'ci/*',
        MLSECRETS_ACCESS_READ_WINDOW: '1m',
        MLSECRETS_ACCESS_READS_PER_CONSUMER: '5',
        MLSECRETS_ACCESS_AUDIT_QUEUE: '100',
      },
      HOST,
    );
    expect(config).toEqual({
      kubeconfig: '/tmp/kc',
      metricsAddress: '127.0.0.1:9090',
      healthAddress: ':0',
      webhookAddress: '0.0.0.0:8443',
      namespaces: ['a', 'b'],
      operatorNamespace: 'ops',
      createOperatorNamespace: true,
      logLevel: 'debug',
      workers: 3,
      instance: 'mlsecrets-abc',
      webhook: true,
      webhookUrl: 'https://127.0.0.1:9443',
      webhookFailurePolicy: 'Fail',
      webhookService: 'mlsecrets-webhook',
      workloadKinds: ['Job', 'PyTorchJob'],
      auditLog: 'stdout',
      leaderElect: true,
      leaderElectionId: 'mlsecrets-leader',
      leaderElectionLeaseDurationMs: 10_000,
      leaderElectionRenewDeadlineMs: 7_000,
      leaderElectionRetryPeriodMs: 2_000,
      shards: 'auto',
      shardLeaseDurationMs: 5_000,
      refreshMountedPods: true,
      accessAudit: {
        enabled: true,
        url: 'https://10.96.0.10:443/audit',
        expectedReaders: { users: ['ci-bot'], groups: ['sre', 'ml-ci'], serviceAccounts: ['ci/*'] },
        readWindowMs: 60_000,
        readsPerConsumer: 5,
        queueCapacity: 100,
      },
    });
  });

  test.each([
    ['--access-audit=yes', /--access-audit must be true or false/],
    ['--access-audit-url=http://x/audit', /--access-audit-url must be an https/],
    ['--access-reads-per-consumer=0', /--access-reads-per-consumer must be a whole number of at least 1/],
    ['--access-audit-queue=1.5', /--access-audit-queue must be a whole number/],
    ['--access-read-window=soon', /--access-read-window must be a duration/],
  ])('%s is rejected', (flag, message) => {
    expect(() => loadConfig([flag], {}, HOST)).toThrow(message);
  });

  test.each(['on', 'AUTO', '3'])('shards %j is rejected naming --shards', (value) => {
    expect(() => loadConfig([`--shards=${value}`], {}, HOST)).toThrow(/--shards/);
  });

  test.each(['0s', '1500ms', 'soon', '2h', '15'])('shard lease duration %j is rejected', (value) => {
    expect(() => loadConfig([`--shard-lease-duration=${value}`], {}, HOST)).toThrow(/--shard-lease-duration/);
  });

  test('a flag beats its environment variable', () => {
    const env = { MLSECRETS_LOG_LEVEL: 'debug', MLSECRETS_WORKERS: '3', MLSECRETS_METRICS_ADDR: ':1' };
    const config = loadConfig(['--log-level', 'warn', '--workers=16', '--metrics-addr', ':2'], env, HOST);
    expect(config.logLevel).toBe('warn');
    expect(config.workers).toBe(16);
    expect(config.metricsAddress).toBe(':2');
  });

  test('namespaces are split on commas, trimmed, and empties dropped', () => {
    expect(loadConfig(['--namespaces', ' ml-a , ml-b,,  ,ml-c '], {}, HOST).namespaces).toEqual([
      'ml-a',
      'ml-b',
      'ml-c',
    ]);
    expect(loadConfig(['--namespaces', ''], { MLSECRETS_NAMESPACES: 'x' }, HOST).namespaces).toEqual([]);
  });

  test.each([['trace'], ['INFO'], ['']])('log level %j is rejected naming --log-level', (level) => {
    expect(() => loadConfig(['--log-level', level], {}, HOST)).toThrow(/--log-level/);
  });

  test('a bad log level from the environment is rejected too', () => {
    expect(() => loadConfig([], { MLSECRETS_LOG_LEVEL: 'verbose' }, HOST)).toThrow(/--log-level.*"verbose"/);
  });

  test.each(['0', '257', '1.5', 'many', '-1', ''])('workers %j is rejected naming --workers', (workers) => {
    expect(() => loadConfig([`--workers=${workers}`], {}, HOST)).toThrow(/--workers/);
  });

  test.each(['1', '256'])('workers %j is accepted', (workers) => {
    expect(loadConfig(['--workers', workers], {}, HOST).workers).toBe(Number(workers));
  });

  test.each([
    ['metrics-addr', '8080'],
    ['health-addr', 'localhost'],
    ['webhook-addr', ':99999'],
    ['metrics-addr', ':port'],
  ])('--%s %j is rejected naming the flag', (flag, address) => {
    expect(() => loadConfig([`--${flag}`, address], {}, HOST)).toThrow(`--${flag}`);
  });

  test('a bad address from the environment names the flag', () => {
    expect(() => loadConfig([], { MLSECRETS_WEBHOOK_ADDR: 'nope' }, HOST)).toThrow(/--webhook-addr.*"nope"/);
  });

  test('an unknown flag or a positional argument is rejected', () => {
    expect(() => loadConfig(['--no-such-flag', 'x'], {}, HOST)).toThrow();
    expect(() => loadConfig(['positional'], {}, HOST)).toThrow();
  });

  test('an empty kubeconfig means in-cluster (undefined); an empty instance falls back to the host', () => {
    const config = loadConfig(['--kubeconfig', '', '--instance', ''], {}, HOST);
    expect(config.kubeconfig).toBeUndefined();
    expect(config.instance).toBe(HOST);
  });

  test('loading does not touch process.env', () => {
    const before = { ...process.env };
    loadConfig(['--log-level', 'debug'], {}, HOST);
    expect(process.env).toEqual(before);
  });

  test('every flag has an environment variable and a default', () => {
    for (const [name, flag] of Object.entries(FLAGS)) {
      expect([name, typeof flag.env, typeof flag.default]).toEqual([name, 'string', 'string']);
    }
  });
});

describe('the operator namespace, in and outside a cluster', () => {
  test('in a pod (no kubeconfig; the chart sets POD_NAMESPACE): nothing is created, leader election on', () => {
    const config = loadConfig([], { POD_NAMESPACE: 'platform', POD_NAME: 'mlsecrets-0' }, HOST);
    expect(config).toMatchObject({
      kubeconfig: undefined,
      operatorNamespace: 'platform',
      createOperatorNamespace: false,
      leaderElect: true,
    });
  });

  test.each([
    ['--kubeconfig', ['--kubeconfig', '.cache/kubeconfig'], {}],
    ['KUBECONFIG', [], { KUBECONFIG: '/home/me/.kube/config' }],
  ])(
    'outside a cluster (%s): mlsecrets-system is created when missing; leader election stays on',
    (_, argv, env) => {
      const config = loadConfig(argv, env, HOST);
      expect(config).toMatchObject({
        operatorNamespace: 'mlsecrets-system',
        createOperatorNamespace: true,
        leaderElect: true,
        leaderElectionId: 'mlsecrets-leader',
      });
    },
  );

  test('outside a cluster, --operator-namespace and --leader-elect still decide', () => {
    const config = loadConfig(
      ['--kubeconfig=/kc', '--operator-namespace=dev-ops', '--leader-elect=false'],
      {},
      HOST,
    );
    expect(config).toMatchObject({
      operatorNamespace: 'dev-ops',
      createOperatorNamespace: true,
      leaderElect: false,
    });
    expect(loadConfig([], { KUBECONFIG: '/kc', MLSECRETS_LEADER_ELECT: 'false' }, HOST).leaderElect).toBe(
      false,
    );
  });

  test('an empty --kubeconfig is in-cluster: nothing is created', () => {
    expect(loadConfig(['--kubeconfig='], { KUBECONFIG: '/kc' }, HOST).createOperatorNamespace).toBe(false);
  });

  test.each(['', 'Ops', 'ml_ops', '-ops', 'ops-', 'a.b', 'x'.repeat(64)])(
    'operator namespace %j is rejected naming --operator-namespace',
    (value) => {
      expect(() => loadConfig([`--operator-namespace=${value}`], {}, HOST)).toThrow(
        /--operator-namespace must be a namespace name/,
      );
    },
  );

  test('a bad POD_NAMESPACE is rejected naming the flag too', () => {
    expect(() => loadConfig([], { POD_NAMESPACE: 'Not Valid' }, HOST)).toThrow(
      /--operator-namespace.*"Not Valid"/,
    );
  });
});

describe('parseAddress', () => {
  test('host and port, or port alone', () => {
    expect(parseAddress(':8080')).toEqual({ host: undefined, port: 8080 });
    expect(parseAddress('127.0.0.1:9443')).toEqual({ host: '127.0.0.1', port: 9443 });
    expect(parseAddress(':0')).toEqual({ host: undefined, port: 0 });
    expect(parseAddress('[::1]:80')).toEqual({ host: '[::1]', port: 80 });
  });

  test('rejects a missing or out-of-range port, naming the flag and the input', () => {
    expect(() => parseAddress('8080', 'metrics-addr')).toThrow('--metrics-addr must look like');
    expect(() => parseAddress(':65536', 'x')).toThrow('":65536"');
    expect(() => parseAddress('host:', 'x')).toThrow();
  });
});

describe('leader election timings', () => {
  test('durations from flags or the environment', () => {
    const config = loadConfig(
      ['--leader-election-lease-duration=4s', '--leader-election-renew-deadline=3s'],
      { MLSECRETS_LEADER_ELECTION_RETRY_PERIOD: '500ms' },
      HOST,
    );
    expect(config.leaderElectionLeaseDurationMs).toBe(4_000);
    expect(config.leaderElectionRenewDeadlineMs).toBe(3_000);
    expect(config.leaderElectionRetryPeriodMs).toBe(500);
  });

  test.each([
    [['--leader-election-lease-duration=10'], /--leader-election-lease-duration must be a duration/],
    [['--leader-election-retry-period=50ms'], /at least 100ms/],
    [
      ['--leader-election-renew-deadline=10s'],
      /renew-deadline must be less than --leader-election-lease-duration/,
    ],
    [
      ['--leader-election-retry-period=7s'],
      /retry-period must be less than --leader-election-renew-deadline/,
    ],
  ])('%s is rejected', (flags, message) => {
    expect(() => loadConfig(flags, {}, HOST)).toThrow(message);
  });
});

describe('README flag table', () => {
  test('lists every flag with its environment variable, and no other', () => {
    const readme = fs.readFileSync(path.join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `--([a-z-]+)` +\| `([A-Z_]+)` +\|/gm)].map((m) => [m[1], m[2]]);
    expect(rows.sort()).toEqual(
      Object.entries(FLAGS)
        .map(([name, flag]) => [name, flag.env])
        .sort(),
    );
  });
});

describe('webhook flags', () => {
  test.each([
    ['--webhook-failure-policy=Maybe', /--webhook-failure-policy must be Ignore or Fail/],
    ['--webhook-url=http://127.0.0.1:9443', /--webhook-url must be an https:\/\/ address/],
    ['--webhook=yes', /--webhook must be true or false/],
  ])('%s is rejected', (flag, message) => {
    expect(() => loadConfig([flag], {}, HOST)).toThrow(message);
  });
});

describe('--refresh-mounted-pods', () => {
  test('off by default; on from the flag or the environment; the flag wins', () => {
    expect(loadConfig([], {}, HOST).refreshMountedPods).toBe(false);
    expect(loadConfig(['--refresh-mounted-pods=true'], {}, HOST).refreshMountedPods).toBe(true);
    expect(loadConfig([], { MLSECRETS_REFRESH_MOUNTED_PODS: 'true' }, HOST).refreshMountedPods).toBe(true);
    expect(
      loadConfig(['--refresh-mounted-pods', 'false'], { MLSECRETS_REFRESH_MOUNTED_PODS: 'true' }, HOST)
        .refreshMountedPods,
    ).toBe(false);
  });

  test.each(['yes', 'TRUE', '1'])('%j is rejected naming the flag', (value) => {
    expect(() => loadConfig([`--refresh-mounted-pods=${value}`], {}, HOST)).toThrow(
      /--refresh-mounted-pods must be true or false/,
    );
    expect(() => loadConfig([], { MLSECRETS_REFRESH_MOUNTED_PODS: value }, HOST)).toThrow(
      /--refresh-mounted-pods/,
    );
  });
});
