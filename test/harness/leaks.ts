// The leak scan: every value a test plants carries a marker, and nothing the operator writes
// where people and machines read (logs, Events, status, metrics) may contain one.
import { randomBytes } from 'node:crypto';
import { recordPlanted, scanForLeaks } from './leak-run.ts';
import type { Clients } from './resources.ts';

const planted = new Set<string>();

/** A secret value for a test, remembered for the leak scan. */
export function plant(label = 'value'): string {
  const value = `MLSECRET-${label}-${randomBytes(6).toString('hex')}`;
  planted.add(value);
  // And for the suite-wide scan at the end of the run (leak-run.ts).
  recordPlanted(value);
  return value;
}

export function plantedValues(): string[] {
  return [...planted];
}

/** Returns every place (a short description) where a planted value appears in `texts`. */
export function findLeaks(texts: Record<string, string>): string[] {
  return scanForLeaks(planted, Object.entries(texts)).map((hit) =>
    hit.form === 'plain'
      ? `${hit.where} contains a planted value`
      : `${hit.where} contains a planted value in ${hit.form}`,
  );
}

/** Collects what the operator wrote about a namespace: Events and the status of bindings and stores. */
export async function operatorOutputs(c: Clients, namespaces: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const namespace of namespaces) {
    const events = await c.core.listNamespacedEvent({ namespace });
    out[`events in ${namespace}`] = JSON.stringify(events.items.map((e) => [e.reason, e.message]));
    for (const plural of ['secretbindings', 'secretstores']) {
      const list = (await c.custom.listNamespacedCustomObject({
        group: 'mlsecrets.io',
        version: 'v1alpha1',
        namespace,
        plural,
      })) as {
        items: { status?: unknown }[];
      };
      out[`${plural} status in ${namespace}`] = JSON.stringify(list.items.map((i) => i.status));
    }
  }
  const clusterStores = (await c.custom.listClusterCustomObject({
    group: 'mlsecrets.io',
    version: 'v1alpha1',
    plural: 'clustersecretstores',
  })) as {
    items: { status?: unknown }[];
  };
  out['clustersecretstores status'] = JSON.stringify(clusterStores.items.map((i) => i.status));
  const defaultEvents = await c.core.listNamespacedEvent({ namespace: 'default' });
  out['events in default'] = JSON.stringify(defaultEvents.items.map((e) => [e.reason, e.message]));
  return out;
}
