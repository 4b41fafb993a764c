// Every test file runs on the Node.js the project pins (24 LTS), never the machine's older one.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  throw new Error(`tests must run on Node.js >= 24 (the pinned devDependency); this is ${process.version}`);
}
// The Google auth library must never probe the cloud metadata address in tests.
process.env.METADATA_SERVER_DETECTION ??= 'none';
