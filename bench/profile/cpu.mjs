// CPU profile of the operator during a benchmark phase. Loaded into every node process of the
// run with NODE_OPTIONS=--import=<this file> (`--cpu-prof` is refused in NODE_OPTIONS); only the
// operator (dist/main.js) profiles. It starts when /tmp/mlsecrets-prof-start exists and writes
// /tmp/mlsecrets-prof/<pid>.cpuprofile when /tmp/mlsecrets-prof-stop exists (bench/README.md).
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import { clearInterval, setInterval } from 'node:timers';

const START = '/tmp/mlsecrets-prof-start';
const STOP = '/tmp/mlsecrets-prof-stop';
const OUT = '/tmp/mlsecrets-prof';

if (process.argv.some((arg) => arg.endsWith('dist/main.js'))) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  let state = 'waiting';
  const poll = setInterval(async () => {
    if (state === 'waiting' && fs.existsSync(START)) {
      state = 'profiling';
      await session.post('Profiler.start');
    } else if (state === 'profiling' && fs.existsSync(STOP)) {
      state = 'done';
      clearInterval(poll);
      const { profile } = await session.post('Profiler.stop');
      fs.mkdirSync(OUT, { recursive: true });
      fs.writeFileSync(`${OUT}/${process.pid}.cpuprofile`, JSON.stringify(profile));
    }
  }, 200);
  poll.unref();
}
