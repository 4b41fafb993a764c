// The operator image, without a Docker engine: the Dockerfile passes hadolint and keeps the
// promises its runtime stage makes (non-root, no HEALTHCHECK, the CMD's entry point); the
// build it runs (`npm run build`) produces that entry point; the built entry point starts and
// fails cleanly on a bad flag; and it needs only production dependencies (npm ci --omit=dev).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', '..');
const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const nodeBin = path.join(root, 'node_modules/.bin/node'); // the pinned Node 24, as in the image
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsecrets-image-'));
fs.chmodSync(outDir, 0o755); // readable by the image's uid, like /app
afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }));

/** The Dockerfile's instructions (continuation lines joined, comments dropped), per stage. */
function stages(): { from: string; instructions: string[] }[] {
  const lines = dockerfile.replace(/\\\n/g, ' ').split('\n');
  const result: { from: string; instructions: string[] }[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (/^FROM\s/i.test(line)) result.push({ from: line, instructions: [] });
    else result.at(-1)?.instructions.push(line);
  }
  return result;
}

test('hadolint passes on the Dockerfile', () => {
  const hadolint = execFileSync('bash', [path.join(root, 'scripts/install-hadolint.sh')], {
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .at(-1)!;
  const run = spawnSync(hadolint, ['--failure-threshold', 'info', path.join(root, 'Dockerfile')], {
    encoding: 'utf8',
  });
  expect(run.stdout + run.stderr).toBe('');
  expect(run.status).toBe(0);
});

test('the stages: Node 24, npm ci from the lock file, production dependencies at runtime, non-root', () => {
  const all = stages();
  expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-/m);
  expect(all.length).toBeGreaterThanOrEqual(2);
  const build = all[0]!;
  expect(build.instructions).toContain('RUN npm run build');
  expect(build.instructions.some((i) => /^COPY package\.json package-lock\.json/.test(i))).toBe(true);
  expect(build.instructions.some((i) => /^RUN npm ci\b/.test(i))).toBe(true);
  expect(dockerfile).toMatch(/npm ci --omit=dev/);

  const runtime = all.at(-1)!;
  expect(runtime.instructions).toContain('WORKDIR /app');
  expect(runtime.instructions).toContain('USER 65532:65532');
  expect(runtime.instructions.at(-1)).toBe('CMD ["node", "dist/main.js"]');
  expect(dockerfile).not.toMatch(/^HEALTHCHECK/m);
  // Nothing is installed or written in the runtime stage: only copies from the others.
  expect(runtime.instructions.filter((i) => /^RUN\s/.test(i))).toEqual([]);
});

test('.dockerignore keeps node_modules, dist, .git and tests out, and lets the build inputs in', () => {
  const ignored = fs
    .readFileSync(path.join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const entry of ['node_modules', 'dist', '.git', 'test', '.cache']) expect(ignored).toContain(entry);
  const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
  expect([...new Set(copied)].sort()).toEqual(
    ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src'].sort(),
  );
  for (const file of copied) {
    expect(ignored).not.toContain(file);
    expect(fs.existsSync(path.join(root, file))).toBe(true);
  }
});

describe('the build and the CMD', () => {
  // `npm run build`, as the image's build stage runs it, into a private directory so tests
  // running alongside keep their dist/.
  beforeAll(() => {
    execFileSync('npm', ['run', 'build', '--silent', '--', '--outDir', path.join(outDir, 'dist')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${path.join(root, 'node_modules/.bin')}:${process.env.PATH}` },
    });
    // /app of the image: dist/, package.json and node_modules side by side.
    fs.copyFileSync(path.join(root, 'package.json'), path.join(outDir, 'package.json'));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(outDir, 'node_modules'));
  }, 180_000);

  test('npm run build produces the CMD entry point', () => {
    const cmd = /^CMD \["node", "([^"]+)"\]$/m.exec(dockerfile)?.[1];
    expect(cmd).toBe('dist/main.js');
    expect(fs.existsSync(path.join(outDir, cmd!))).toBe(true);
  });

  test('the built entry point runs, as uid 65532, and fails cleanly on a bad flag', () => {
    const asNonRoot = process.getuid?.() === 0 ? { uid: 65532, gid: 65532 } : {};
    const run = spawnSync(nodeBin, ['dist/main.js', '--log-level=nope'], {
      cwd: outDir,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', HOME: '/nonexistent' },
      ...asNonRoot,
    });
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'error', message: 'operator failed to start' });
    expect(lines[0]).toMatch(/--log-level/);
  });

  test('the built code imports only production dependencies and Node built-ins', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.name.endsWith('.js')) files.push(full);
      }
    };
    walk(path.join(outDir, 'dist'));
    const packages = new Set<string>();
    for (const file of files) {
      const source = fs.readFileSync(file, 'utf8');
      for (const m of source.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"./][^'"]*)['"]/g)) {
        const spec = m[1]!;
        if (spec.startsWith('node:')) continue;
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    expect(packages.size).toBeGreaterThan(0);
    const notProduction = [...packages].filter((p) => !(p in pkg.dependencies));
    expect(notProduction).toEqual([]);
  });
});
