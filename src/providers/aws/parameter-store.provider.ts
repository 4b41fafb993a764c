// AWS Systems Manager Parameter Store: GetParameters, ten names per call, versions and labels
// through the `name:version` / `name:label` selector syntax.
import {
  ProviderError,
  type AssumeRoleInput,
  type RemoteRequest,
  type RemoteValue,
  type SecretsProvider,
  type TemporaryCredentials,
} from '../provider.port.ts';
import type { ParameterEntry, ParameterStoreApi } from './aws-api.ts';
import { classify, classifyCode, type ErrorContext } from './errors.ts';
import type { StoreIdentity } from './store-identity.ts';

type Outcome = RemoteValue | ProviderError;
type OnCall = (operation: string) => void;

/** GetParameters takes at most 10 names per call. */
export const PARAMETER_STORE_BATCH = 10;

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
