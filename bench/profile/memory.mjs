// Memory of the operator over a benchmark run, split the way RSS is made: V8 heap (by space),
// other anonymous memory (malloc, native buffers) and file-backed pages. Loaded with
// NODE_OPTIONS=--import=<this file>; only the operator (dist/main.js) samples, every 500 ms,
// one JSON line per sample to /tmp/mlsecrets-memory-<pid>.jsonl (bench/README.md).
import fs from 'node:fs';
import { setInterval } from 'node:timers';
import v8 from 'node:v8';

const MiB = 1024 * 1024;

if (process.argv.some((arg) => arg.endsWith('dist/main.js'))) {
  const file = `/tmp/mlsecrets-memory-${process.pid}.jsonl`;
  const kib = (text, field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  const sample = setInterval(() => {
    const usage = process.memoryUsage();
    const smaps = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
    const anonymous = kib(smaps, 'Anonymous') / 1024;
    const spaces = Object.fromEntries(
      v8.getHeapSpaceStatistics().map((space) => [space.space_name, Math.round(space.space_size / MiB)]),
    );
    const line = {
      t: Date.now(),
      rssMiB: Math.round(usage.rss / MiB),
      heapTotalMiB: Math.round(usage.heapTotal / MiB),
      heapUsedMiB: Math.round(usage.heapUsed / MiB),
      // Anonymous memory outside V8's heap: malloc (native code, OpenSSL, buffers).
      nativeMiB: Math.round(anonymous - usage.heapTotal / MiB),
      fileBackedMiB: Math.round(kib(smaps, 'Rss') / 1024 - anonymous),
      spaces,
    };
    fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, 500);
  sample.unref();
}
