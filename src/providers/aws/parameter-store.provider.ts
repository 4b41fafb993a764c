// AWS Systems Manager Parameter Store: GetParameters, ten names per call, versions and labels
// through the `name:version` / `name:label` selector syntax; dataFrom.find through
// GetParametersByPath, or DescribeParameters and GetParameters.
import {
  ProviderError,
  type AssumeRoleInput,
  type FindQuery,
  type RemoteRequest,
  type RemoteValue,
  type SecretsProvider,
  type TemporaryCredentials,
} from '../provider.port.ts';
import type { ParameterEntry, ParameterFilter, ParameterStoreApi } from './aws-api.ts';
import { classify, classifyCode, type ErrorContext } from './errors.ts';
import { byKey, compileNameRegexp } from './find-match.ts';
import { pages } from './paging.ts';
import type { StoreIdentity } from './store-identity.ts';

type Outcome = RemoteValue | ProviderError;
type OnCall = (operation: string) => void;

/** GetParameters takes at most 10 names per call. */
export const PARAMETER_STORE_BATCH = 10;

/** GetParametersByPath answers at most 10 parameters a page. */
const BY_PATH_PAGE = 10;
/** DescribeParameters answers at most 50 parameters a page. */
const DESCRIBE_PAGE = 50;

/**
 * A find path as a Parameter Store hierarchy: it must start with "/" (names in a hierarchy
 * do), and a trailing "/" is dropped, since "/ml/team-a/" and "/ml/team-a" are one hierarchy.
 */
export function findPath(path: string): string {
  if (!path.startsWith('/')) {
    throw new ProviderError(
      'Invalid',
      `dataFrom.find path "${path}" is not a Parameter Store hierarchy: it must start with "/"`,
    );
  }
  return path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;
}

/**
 * DescribeParameters filters for a find: each tag as `tag:KEY` with the Equals option (an exact
 * match of the value, unlike Secrets Manager's prefix filters), and the path as a recursive
 * `Path` filter.
 */
export function describeFilters(query: FindQuery, path: string | undefined): ParameterFilter[] {
  const filters: ParameterFilter[] = Object.entries(query.tags ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => {
      // AWS takes no empty filter value, and a filter without values matches any value.
      if (value === '') {
        throw new ProviderError(
          'Invalid',
          `dataFrom.find tag "${key}" has an empty value, which AWS Parameter Store cannot filter on`,
        );
      }
      return { Key: `tag:${key}`, Option: 'Equals', Values: [value] };
    });
  if (path !== undefined && path !== '/') filters.push({ Key: 'Path', Option: 'Recursive', Values: [path] });
  return filters;
}

/** The name GetParameters is asked for: `name`, `name:3` (a version) or `name:label`. */
export function parameterSelector(request: RemoteRequest): string {
  return request.version === undefined ? request.key : `${request.key}:${request.version}`;
}

/**
 * Splits `name:selector` into the parameter's name and its selector. Names hold no colon, but
 * ARNs do (`arn:aws:ssm:region:account:parameter/name:3`), so for an ARN only a colon after
 * `:parameter/` starts a selector.
 */
export function splitSelector(name: string): { base: string; selector?: string } {
  let from = 0;
  if (name.startsWith('arn:')) {
    const at = name.indexOf(':parameter/');
    if (at < 0) return { base: name };
    from = at + ':parameter/'.length;
  }
  const colon = name.indexOf(':', from);
  return colon < 0 ? { base: name } : { base: name.slice(0, colon), selector: name.slice(colon + 1) };
}

/**
 * Groups names into calls of at most `size`, never two selectors of the same parameter in one
 * call: the answer names a parameter (Name, ARN) but not always which selector it answers
 * (moto leaves `Selector` out), so distinct names keep the matching unambiguous.
 */
export function planCalls(names: string[], size = PARAMETER_STORE_BATCH): string[][] {
  const calls: { names: string[]; bases: Set<string> }[] = [];
  for (const name of names) {
    const { base } = splitSelector(name);
    let call = calls.find((c) => c.names.length < size && !c.bases.has(base));
    if (!call) {
      call = { names: [], bases: new Set() };
      calls.push(call);
    }
    call.names.push(name);
    call.bases.add(base);
  }
  return calls.map((c) => c.names);
}

/** Values from AWS Systems Manager Parameter Store (SecureStrings decrypted). */
export class ParameterStoreProvider implements SecretsProvider {
  readonly name = 'aws/ParameterStore';
  readonly maxBatch = PARAMETER_STORE_BATCH;
  private readonly api: ParameterStoreApi;
  private readonly identity: StoreIdentity;

  constructor(api: ParameterStoreApi, identity: StoreIdentity) {
    this.api = api;
    this.identity = identity;
  }

  /** Every read goes through GetParameters, versions and labels included. */
  batchable(): boolean {
    return true;
  }

  async getSecrets(requests: RemoteRequest[], onCall: OnCall): Promise<Outcome[]> {
    const names = [...new Set(requests.map(parameterSelector))];
    const answers = new Map<string, ParameterEntry | ProviderError>();
    await Promise.all(
      planCalls(names).map(async (call) => {
        for (const [name, answer] of await this.readCall(call, onCall)) answers.set(name, answer);
      }),
    );
    return requests.map((request) => {
      const answer = answers.get(parameterSelector(request));
      if (answer === undefined || answer instanceof ProviderError) {
        return answer ?? new ProviderError('Unavailable', 'AWS Parameter Store gave no answer');
      }
      return toValue(answer, request);
    });
  }

  private async readCall(
    names: string[],
    onCall: OnCall,
  ): Promise<Map<string, ParameterEntry | ProviderError>> {
    const answers = new Map<string, ParameterEntry | ProviderError>();
    let answer;
    try {
      onCall('GetParameters');
      answer = await this.api.getParameters({ Names: names, WithDecryption: true });
    } catch (error) {
      for (const name of names) answers.set(name, classify(error, context(name)));
      return answers;
    }
    const parameters = answer.Parameters ?? [];
    const invalid = new Set(answer.InvalidParameters ?? []);
    const unanswered: string[] = [];
    for (const name of names) {
      const { base } = splitSelector(name);
      // Asked alone, the one parameter returned can only be the answer, however it is spelt.
      const found =
        parameters.find((p) => p.Name === base || p.ARN === base) ??
        (names.length === 1 && parameters.length === 1 ? parameters[0] : undefined);
      if (found) answers.set(name, found);
      else if (invalid.has(name)) answers.set(name, classifyCode('ParameterNotFound', context(name)));
      else if (names.length === 1)
        answers.set(name, new ProviderError('Invalid', `AWS Parameter Store gave no answer for "${name}"`));
      else unanswered.push(name);
    }
    // A name the answer spells differently (a shared parameter's ARN, say): ask for it alone.
    await Promise.all(
      unanswered.map(async (name) => {
        for (const [n, a] of await this.readCall([name], onCall)) answers.set(n, a);
      }),
    );
    return answers;
  }

  /**
   * dataFrom.find. A path alone is GetParametersByPath (recursive, decrypted): names and values
   * in one paged call. With tags, or without a path, DescribeParameters lists the names (tags
   * and path as server filters, matched exactly there) and GetParameters reads the matching
   * ones, ten a call. The regexp and the path are checked here too. `key` of each value is the
   * parameter's name, with its leading "/".
   */
  async find(query: FindQuery, onCall: OnCall): Promise<RemoteValue[]> {
    const pattern = compileNameRegexp(query);
    const path = query.path === undefined ? undefined : findPath(query.path);
    const wanted = (name: string) =>
      (path === undefined || path === '/' || name.startsWith(`${path}/`)) && (pattern?.test(name) ?? true);
    if (path !== undefined && query.tags === undefined) return byKey(await this.byPath(path, wanted, onCall));
    const names = await this.describeNames(describeFilters(query, path), wanted, onCall);
    const outcomes = await this.getSecrets(
      names.map((key) => ({ key })),
      onCall,
    );
    const found: RemoteValue[] = [];
    for (const outcome of outcomes) {
      if (!(outcome instanceof ProviderError)) found.push(outcome);
      // Deleted between the listing and the read: it is simply no longer there.
      else if (outcome.category !== 'NotFound') throw outcome;
    }
    return byKey(found);
  }

  private async byPath(
    path: string,
    wanted: (name: string) => boolean,
    onCall: OnCall,
  ): Promise<RemoteValue[]> {
    const found: RemoteValue[] = [];
    try {
      const answers = pages((token) => {
        onCall('GetParametersByPath');
        return this.api.getParametersByPath({
          Path: path,
          Recursive: true,
          WithDecryption: true,
          MaxResults: BY_PATH_PAGE,
          ...(token ? { NextToken: token } : {}),
        });
      }, 'AWS Parameter Store parameters');
      for await (const answer of answers) {
        for (const parameter of answer.Parameters ?? []) {
          if (parameter.Name === undefined || !wanted(parameter.Name)) continue;
          const value = toValue(parameter, { key: parameter.Name });
          if (!(value instanceof ProviderError)) found.push(value);
        }
      }
    } catch (error) {
      throw classify(error, { service: 'ParameterStore', action: 'list' });
    }
    return found;
  }

  private async describeNames(
    filters: ParameterFilter[],
    wanted: (name: string) => boolean,
    onCall: OnCall,
  ): Promise<string[]> {
    const names: string[] = [];
    try {
      const answers = pages((token) => {
        onCall('DescribeParameters');
        return this.api.describeParameters({
          ...(filters.length > 0 ? { ParameterFilters: filters } : {}),
          MaxResults: DESCRIBE_PAGE,
          ...(token ? { NextToken: token } : {}),
        });
      }, 'AWS Parameter Store parameters');
      for await (const answer of answers) {
        for (const parameter of answer.Parameters ?? []) {
          if (parameter.Name !== undefined && wanted(parameter.Name)) names.push(parameter.Name);
        }
      }
    } catch (error) {
      throw classify(error, { service: 'ParameterStore', action: 'list' });
    }
    return names;
  }

  validate(onCall: OnCall): Promise<void> {
    return this.identity.check(onCall);
  }

  assumeRole(input: AssumeRoleInput, onCall: OnCall): Promise<TemporaryCredentials> {
    return this.identity.assumeRole(input, onCall);
  }

  async close(): Promise<void> {
    this.api.destroy();
    this.identity.close();
  }
}

function context(name: string): ErrorContext {
  const { base, selector } = splitSelector(name);
  return { service: 'ParameterStore', action: 'read', key: base, ...(selector ? { version: selector } : {}) };
}

function toValue(parameter: ParameterEntry, request: RemoteRequest): Outcome {
  if (parameter.Value === undefined) {
    return new ProviderError('Invalid', `Parameter "${request.key}" has no value in AWS Parameter Store`);
  }
  return {
    key: request.key,
    value: Buffer.from(parameter.Value, 'utf8'),
    ...(parameter.Version !== undefined ? { versionId: String(parameter.Version) } : {}),
  };
}
