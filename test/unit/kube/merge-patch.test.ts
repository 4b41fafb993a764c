import { describe, expect, it } from '@jest/globals';
import { sameJson } from '../../../src/kube/merge-patch.ts';

describe('sameJson', () => {
  it('ignores key order and undefined fields, as JSON would', () => {
    expect(sameJson({ a: 1, b: { c: 'x', d: [1, 2] } }, { b: { d: [1, 2], c: 'x' }, a: 1 })).toBe(true);
    expect(sameJson({ a: 1, gone: undefined }, { a: 1 })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 1, gone: undefined })).toBe(true);
    expect(sameJson([], [])).toBe(true);
  });

  it('tells apart values, missing keys, array order and length, and types', () => {
    expect(sameJson({ a: 1 }, { a: 2 })).toBe(false);
    expect(sameJson({ a: 1 }, { a: 1, b: 0 })).toBe(false);
    expect(sameJson({ a: 1, b: 0 }, { a: 1 })).toBe(false);
    expect(sameJson({ a: 1, b: undefined }, { a: 1, c: 2 })).toBe(false);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson([1], [1, 1])).toBe(false);
    expect(sameJson({ a: '1' }, { a: 1 })).toBe(false);
    expect(sameJson({ a: [] }, { a: {} })).toBe(false);
    expect(sameJson({ a: null }, { a: {} })).toBe(false);
    expect(sameJson({ a: { b: { c: 'x' } } }, { a: { b: { c: 'y' } } })).toBe(false);
  });

  it('compares a status as the API server would store it', () => {
    const status = {
      observedGeneration: 1,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Synced', lastTransitionTime: '2026-11-24T00:00:00Z' },
      ],
      sources: [{ key: 'k', version: 'v1' }],
    };
    expect(sameJson(status, JSON.parse(JSON.stringify(status)))).toBe(true);
    const changed = structuredClone(status);
    changed.sources[0]!.version = 'v2';
    expect(sameJson(status, changed)).toBe(false);
  });
});
