// A jest reporter that hands every failure message (thrown errors and failed assertions, as
// jest prints them) to the suite-wide leak scan. Reporters run in jest's main process before
// globalTeardown, so the scan sees them all. Loaded by Node itself (type stripping), not by
// jest's transform: erasable TypeScript only.
import { recordText } from './leak-run.ts';

interface FileResult {
  testFilePath: string;
  failureMessage?: string | null;
  testExecError?: { message?: string } | null;
  testResults: { fullName: string; failureMessages: string[] }[];
}

export default class LeakReporter {
  onTestFileResult(_test: unknown, result: FileResult): void {
    const file = result.testFilePath;
    if (result.failureMessage) recordText(`jest failure message of ${file}`, result.failureMessage);
    if (result.testExecError?.message) recordText(`jest error running ${file}`, result.testExecError.message);
    for (const t of result.testResults)
      for (const message of t.failureMessages) recordText(`jest failure of ${file}: ${t.fullName}`, message);
  }
}
