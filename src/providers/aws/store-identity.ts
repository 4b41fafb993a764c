// What both AWS providers do with STS: check the store's credentials and mint role credentials.
import type { AssumeRoleInput, TemporaryCredentials } from '../provider.port.ts';
import type { StsApi } from './aws-api.ts';
import { toKeys } from './credentials.ts';
import { classify } from './errors.ts';

/** The store's identity at STS, with the store's credentials, region and endpoint. */
export class StoreIdentity {
  private readonly sts: StsApi;
  /** Clients to destroy along with this one (the base-credentials STS client of a role). */
  private readonly others: { destroy(): void }[];

  constructor(sts: StsApi, others: { destroy(): void }[] = []) {
    this.sts = sts;
    this.others = others;
  }

  /**
   * GetCallerIdentity proves the credentials (and the assumed role, if any) are accepted. It
   * needs no IAM permission, so it checks the credentials and nothing else: a missing read
   * permission shows on the bindings, per remote key.
   */
  async check(onCall: (operation: string) => void): Promise<void> {
    onCall('GetCallerIdentity');
    try {
      await this.sts.getCallerIdentity();
    } catch (error) {
      throw classify(error, { service: 'STS', action: 'check' });
    }
  }

  /** STS AssumeRole with the store's credentials (generators.awsSTS). */
  async assumeRole(
    input: AssumeRoleInput,
    onCall: (operation: string) => void,
  ): Promise<TemporaryCredentials> {
    onCall('AssumeRole');
    let answer;
    try {
      answer = await this.sts.assumeRole({
        RoleArn: input.roleArn,
        RoleSessionName: input.sessionName,
        DurationSeconds: input.durationSeconds,
      });
    } catch (error) {
      throw classify(error, { service: 'STS', action: 'assume', key: input.roleArn });
    }
    return toKeys(answer.Credentials, input.roleArn);
  }

  close(): void {
    this.sts.destroy();
    for (const other of this.others) other.destroy();
  }
}
