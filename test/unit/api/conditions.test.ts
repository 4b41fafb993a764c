import { findCondition, setCondition } from '../../../src/api/conditions.ts';
import type { Condition } from '../../../src/api/types.ts';

const T0 = new Date('2025-01-01T00:00:00.123Z');
const T1 = new Date('2025-01-01T01:00:00.456Z');

describe('setCondition', () => {
  test('adds a condition with lastTransitionTime = now, in whole seconds', () => {
    const list = setCondition(
      undefined,
      { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok' },
      T0,
    );
    expect(list).toEqual([
      {
        type: 'Ready',
        status: 'True',
        reason: 'Synced',
        message: 'ok',
        lastTransitionTime: '2025-01-01T00:00:00Z',
      },
    ]);
  });

  test('keeps lastTransitionTime while the status stays the same, even if reason and message change', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'Throttled', message: 'a' }, T0);
    const second = setCondition(
      first,
      { type: 'Ready', status: 'False', reason: 'ProviderUnavailable', message: 'b', observedGeneration: 2 },
      T1,
    );
    expect(second).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'ProviderUnavailable',
        message: 'b',
        observedGeneration: 2,
        lastTransitionTime: '2025-01-01T00:00:00Z',
      },
    ]);
  });

  test('moves lastTransitionTime when the status changes', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'X', message: 'x' }, T0);
    const second = setCondition(
      first,
      { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok' },
      T1,
    );
    expect(second[0]!.lastTransitionTime).toBe('2025-01-01T01:00:00Z');
    const third = setCondition(second, { type: 'Ready', status: 'Unknown', reason: 'P', message: 'p' }, T0);
    expect(third[0]!.lastTransitionTime).toBe('2025-01-01T00:00:00Z');
  });

  test('a previous condition without lastTransitionTime gets now', () => {
    const previous: Condition[] = [{ type: 'Ready', status: 'True' }];
    const list = setCondition(previous, { type: 'Ready', status: 'True', reason: 'Synced', message: '' }, T1);
    expect(list[0]!.lastTransitionTime).toBe('2025-01-01T01:00:00Z');
  });

  test('an unchanged condition set again compares equal (no status write)', () => {
    const first = setCondition([], { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok' }, T0);
    const again = setCondition(first, { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok' }, T1);
    expect(again).toEqual(first);
  });

  test('other conditions are kept untouched and the list is sorted by type', () => {
    const other: Condition = {
      type: 'Synced',
      status: 'True',
      reason: 'Synced',
      message: 'm',
      lastTransitionTime: '2024-01-01T00:00:00Z',
    };
    const zeta: Condition = { type: 'Zeta', status: 'False', lastTransitionTime: '2024-01-01T00:00:00Z' };
    const list = setCondition([zeta, other], { type: 'Ready', status: 'True', reason: 'R', message: '' }, T0);
    expect(list.map((c) => c.type)).toEqual(['Ready', 'Synced', 'Zeta']);
    expect(list[1]).toEqual(other);
    expect(list[2]).toEqual(zeta);
  });

  test('replaces rather than duplicates a condition of the same type', () => {
    let list = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: '' }, T0);
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'B', message: '' }, T1);
    expect(list).toHaveLength(1);
    expect(list[0]!.reason).toBe('B');
  });

  test('does not mutate the list it is given', () => {
    const original = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: '' }, T0);
    const snapshot = structuredClone(original);
    setCondition(original, { type: 'Ready', status: 'False', reason: 'B', message: '' }, T1);
    setCondition(original, { type: 'Another', status: 'False', reason: 'B', message: '' }, T1);
    expect(original).toEqual(snapshot);
  });
});

describe('findCondition', () => {
  test('finds by type; undefined when missing or no list', () => {
    const list = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: '' }, T0);
    expect(findCondition(list, 'Ready')?.reason).toBe('A');
    expect(findCondition(list, 'Synced')).toBeUndefined();
    expect(findCondition(undefined, 'Ready')).toBeUndefined();
  });
});
