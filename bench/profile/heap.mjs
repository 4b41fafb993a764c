// A heap snapshot of the operator during a benchmark run. Loaded with
// NODE_OPTIONS=--import=<this file>; only the operator (dist/main.js) acts on it. When
// /tmp/mlsecrets-heap-now exists it writes /tmp/mlsecrets-heap/<pid>.heapsnapshot once (the
// process stops for a few seconds meanwhile, and its RSS grows by the snapshot's size), to be
// read in Chrome DevTools (Memory) or by a script over the snapshot's JSON (bench/README.md).
import fs from 'node:fs';
import { clearInterval, setInterval } from 'node:timers';
import v8 from 'node:v8';

const NOW = '/tmp/mlsecrets-heap-now';
const OUT = '/tmp/mlsecrets-heap';

if (process.argv.some((arg) => arg.endsWith('dist/main.js'))) {
  const poll = setInterval(() => {
    if (!fs.existsSync(NOW)) return;
    clearInterval(poll);
    fs.mkdirSync(OUT, { recursive: true });
    v8.writeHeapSnapshot(`${OUT}/${process.pid}.heapsnapshot`);
  }, 200);
  poll.unref();
}
