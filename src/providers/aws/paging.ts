// NextToken paging shared by the AWS list calls that dataFrom.find makes.
import { ProviderError } from '../provider.port.ts';

/**
 * Pages a find may go through before it is refused. Every page is a billed call at every
 * refresh, and a Secret holds at most 1 MiB, so a find that needs hundreds of pages is a
 * mistake to report, not a cost to pay.
 */
export const FIND_MAX_PAGES = 100;

/**
 * Yields the answers of `call`, following NextToken until it is absent. A token that repeats
 * ends the walk (a broken paginator must not loop for ever); more than `maxPages` pages is a
 * ProviderError naming `what`.
 */
export async function* pages<T extends { NextToken?: string }>(
  call: (token: string | undefined) => Promise<T>,
  what: string,
  maxPages = FIND_MAX_PAGES,
): AsyncGenerator<T> {
  let token: string | undefined;
  for (let page = 0; ; page++) {
    if (page >= maxPages) {
      throw new ProviderError(
        'Invalid',
        `dataFrom.find needs more than ${maxPages} pages of ${what}; narrow it with a path or tags`,
      );
    }
    const answer = await call(token);
    yield answer;
    if (!answer.NextToken || answer.NextToken === token) return;
    token = answer.NextToken;
  }
}
