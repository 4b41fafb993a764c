import { Writable } from 'node:stream';
import winston from 'winston';
import { auditLogOn } from '../../../src/observability/audit.ts';
import { ManualClock } from '../../../src/runtime/clock.ts';

test('one JSON line per record: time, replica, the fields given, no log level, the message as is', async () => {
  const lines: string[] = [];
  const sink = auditLogOn(
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk: Buffer, _encoding, callback) {
          lines.push(...chunk.toString().split('\n').filter(Boolean));
          callback();
        },
      }),
    }),
    'replica-1',
    new ManualClock(Date.parse('2026-03-04T05:06:07.089Z')),
  );
  sink.record({
    action: 'issue',
    outcome: 'success',
    binding: 'ml-team/finetune',
    store: 'ClusterSecretStore/aws-ml',
    sources: [{ key: 'ml/hf', versionId: 'v1' }],
    message: 'Secret "finetune" issued',
  });
  sink.record({
    action: 'inject-deny',
    outcome: 'failure',
    workload: { kind: 'Pod', name: 'p' },
    serviceAccount: 'default',
  });
  await sink.close();
  expect(lines).toHaveLength(2);
  const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(first).toEqual({
    time: '2026-03-04T05:06:07.089Z',
    audit: 'mlsecrets',
    replica: 'replica-1',
    action: 'issue',
    outcome: 'success',
    binding: 'ml-team/finetune',
    store: 'ClusterSecretStore/aws-ml',
    sources: [{ key: 'ml/hf', versionId: 'v1' }],
    message: 'Secret "finetune" issued',
  });
  expect(second).toMatchObject({ action: 'inject-deny', message: '', workload: { kind: 'Pod', name: 'p' } });
  expect(second).not.toHaveProperty('level');
});
