// Audit events of the API server (audit.k8s.io/v1, Metadata level) reduced to Secret reads.
import { secretReadOf, secretReadsOf, type AuditEvent } from '../../../src/access/audit-event.ts';

const base: AuditEvent = {
  auditID: 'a-1',
  stage: 'ResponseComplete',
  verb: 'get',
  requestURI: '/api/v1/namespaces/ml/secrets/hf-token',
  user: { username: 'alice', groups: ['system:authenticated'] },
  sourceIPs: ['10.0.0.7'],
  userAgent: 'kubectl/v1.36.3',
  objectRef: { resource: 'secrets', namespace: 'ml', name: 'hf-token', apiVersion: 'v1' },
  responseStatus: { code: 200 },
  requestReceivedTimestamp: '2026-12-07T10:00:00.123456Z',
  stageTimestamp: '2026-12-07T10:00:00.130000Z',
};

test('a get of a named Secret: who, what, when, from where, allowed', () => {
  expect(secretReadOf(base)).toEqual({
    auditID: 'a-1',
    at: Date.parse('2026-12-07T10:00:00.123Z'),
    verb: 'get',
    reader: { username: 'alice', groups: ['system:authenticated'] },
    namespace: 'ml',
    name: 'hf-token',
    allowed: true,
    sourceIPs: ['10.0.0.7'],
    userAgent: 'kubectl/v1.36.3',
  });
});

test('service accounts and kubelets are recognised from the authenticated user', () => {
  const sa = secretReadOf({ ...base, user: { username: 'system:serviceaccount:ci:deployer', groups: [] } });
  expect(sa?.reader.serviceAccount).toBe('ci/deployer');
  const node = secretReadOf({ ...base, user: { username: 'system:node:gpu-1', groups: ['system:nodes'] } });
  expect(node?.reader.node).toBe('gpu-1');
  // The node prefix alone is not a kubelet: the Node authorizer requires the group too.
  const fake = secretReadOf({ ...base, user: { username: 'system:node:gpu-1', groups: [] } });
  expect(fake?.reader.node).toBeUndefined();
});

test('an impersonated read is judged as its real author, the impersonated name kept', () => {
  const read = secretReadOf({
    ...base,
    impersonatedUser: { username: 'system:serviceaccount:mlsecrets-system:mlsecrets', groups: [] },
  });
  expect(read?.reader).toEqual({
    username: 'alice',
    groups: ['system:authenticated'],
    impersonating: 'system:serviceaccount:mlsecrets-system:mlsecrets',
  });
});

test('one read per request: a watch when it starts, anything else when it completes', () => {
  expect(secretReadOf({ ...base, stage: 'ResponseStarted' })).toBeUndefined();
  const watch = { ...base, verb: 'watch', responseStatus: undefined };
  expect(secretReadOf({ ...watch, stage: 'ResponseStarted' })).toMatchObject({
    verb: 'watch',
    allowed: true,
  });
  expect(secretReadOf({ ...watch, stage: 'ResponseComplete' })).toBeUndefined();
  expect(secretReadOf({ ...base, stage: 'RequestReceived' })).toBeUndefined();
});

test('a list of a namespace has no name; a refused read is not allowed', () => {
  const list = secretReadOf({ ...base, verb: 'list', objectRef: { resource: 'secrets', namespace: 'ml' } });
  expect(list).toMatchObject({ verb: 'list', namespace: 'ml', name: undefined, allowed: true });
  expect(secretReadOf({ ...base, responseStatus: { code: 403 } })?.allowed).toBe(false);
});

test('a list or watch of one name by field selector reads that Secret', () => {
  const watch = {
    ...base,
    verb: 'watch',
    stage: 'ResponseStarted',
    requestURI: '/api/v1/namespaces/ml/secrets?fieldSelector=metadata.name%3Dhf-token&watch=true',
    objectRef: { resource: 'secrets', namespace: 'ml' },
  };
  expect(secretReadOf(watch)?.name).toBe('hf-token');
  const several = {
    ...watch,
    requestURI: '/api/v1/namespaces/ml/secrets?fieldSelector=metadata.name%3Da%2Ctype%3Dx',
  };
  expect(secretReadOf(several)?.name).toBeUndefined();
});

test('writes, other resources, other groups and subresources are not reads of Secrets', () => {
  expect(secretReadOf({ ...base, verb: 'update' })).toBeUndefined();
  expect(
    secretReadOf({ ...base, objectRef: { resource: 'configmaps', namespace: 'ml', name: 'x' } }),
  ).toBeUndefined();
  expect(
    secretReadOf({ ...base, objectRef: { ...base.objectRef, apiGroup: 'example.com' } }),
  ).toBeUndefined();
  expect(secretReadOf({ ...base, objectRef: { ...base.objectRef, subresource: 'status' } })).toBeUndefined();
  expect(secretReadOf({ ...base, user: undefined })).toBeUndefined();
});

test('an EventList body yields its reads; anything else yields none', () => {
  expect(secretReadsOf({ kind: 'EventList', items: [base, { ...base, verb: 'delete' }, base] })).toHaveLength(
    2,
  );
  expect(secretReadsOf({ kind: 'EventList' })).toEqual([]);
  expect(secretReadsOf(null)).toEqual([]);
  expect(secretReadsOf('text')).toEqual([]);
});
