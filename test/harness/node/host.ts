// What the test node changes on the host, and how every change is undone.
//
// A kubelet is not a process you can keep to a directory: pods need a bridge, routes, kernel
// settings and firewall rules, and the kubelet, containerd and the CNI plugins write a few
// paths of their own. Everything is recorded before it is changed, in a file under /run, so
// that teardown (or the next start, after a crashed run) restores exactly the host it found.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isAlive } from '../process.ts';

/** The pod network: one bridge, the host's address on it, and the Service range routed onto it. */
export const NETWORK = {
  bridge: 'mlsecrets0',
  podCidr: '10.244.0.0/24',
  hostAddress: '10.244.0.1',
  serviceCidr: '10.0.0.0/24',
  /** An nftables table of ours: pod traffic never leaves through another interface. */
  guardTable: 'mlsecrets_guard',
} as const;

export const NODE_NAME = 'mlsecrets-node';

/** One node per machine: the bridge, the ports and the kernel settings are the host's. */
const HOST_STATE = '/run/mlsecrets-node.json';

/**
 * Kernel settings something in the node changes: the kubelet rewrites the first six at start
 * (it would refuse to start instead with protectKernelDefaults), the bridge plugin turns on
 * forwarding, and kube-proxy may set route_localnet.
 */
const SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.route_localnet',
];
const KUBELET_SYSCTLS = SYSCTLS.slice(0, 6);

/** Paths the kubelet, containerd and libcni use whatever their configuration says. */
const FIXED_PATHS = [
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/var/lib/cni',
  '/var/run/netns',
  '/run/containerd',
];

interface HostState {
  /** The process that owns the node (a test run, or `npm run cluster:up`'s record). */
  ownerPid: number;
  /** The node's working directory: every mount under it is ours. */
  dir: string;
  sysctls: Record<string, string>;
  /** nftables tables that existed before: any other table was made by the node. */
  nftTables: string[];
  /** FIXED_PATHS that existed before. */
  paths: string[];
}

/**
 * Why the node cannot run on this machine, or undefined when it can. One line: tests that need
 * pods fail with it, rather than being skipped.
 */
export function nodeUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return `the test node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the test node needs root (it creates a bridge, cgroups and mounts)';
  return undefined;
}

/** What scripts/install-node.sh should have installed and is missing, or undefined. */
export function nodeToolsMissing(): string | undefined {
  for (const tool of ['ip', 'nft', 'iptables', 'containerd', 'ctr', 'runc']) {
    if (!onPath(tool)) return `the test node needs ${tool}: run scripts/install-node.sh`;
  }
  if (!fs.existsSync('/usr/lib/cni/bridge'))
    return 'the test node needs the CNI plugins: run scripts/install-node.sh';
  return undefined;
}

/**
 * Claims the host for a node working in `dir`: cleans up after a crashed earlier node, records
 * the settings it will change, and sets up the pod network.
 */
export function claimHost(dir: string, ownerPid = process.pid): void {
  const previous = readHostState();
  if (previous && isAlive(previous.ownerPid) && previous.ownerPid !== ownerPid) {
    throw new Error(
      `a test node already runs on this machine (pid ${previous.ownerPid}, ${previous.dir}); ` +
        'stop it first (npm run cluster:down)',
    );
  }
  // A crashed run leaves its network and mounts: undo them with its own record, which also
  // holds the settings as they were before it, not as it left them.
  if (previous) releaseHost();
  const state: HostState = {
    ownerPid,
    dir,
    sysctls: Object.fromEntries(SYSCTLS.map((name) => [name, sysctl(name)])),
    nftTables: nftTables(),
    paths: FIXED_PATHS.filter((p) => fs.existsSync(p)),
  };
  fs.writeFileSync(HOST_STATE, JSON.stringify(state, null, 2));
  setUpNetwork();
}

/** Changes the recorded owner (`npm run cluster:up` hands the node to no process at all). */
export function setHostOwner(ownerPid: number): void {
  const state = readHostState();
  if (state) fs.writeFileSync(HOST_STATE, JSON.stringify({ ...state, ownerPid }, null, 2));
}

/** Puts back the kernel settings the kubelet rewrote at its start. */
export function restoreKubeletSysctls(): void {
  const state = readHostState();
  if (!state) return;
  for (const name of KUBELET_SYSCTLS) setSysctl(name, state.sysctls[name]);
}

/**
 * Undoes everything claimHost and the node did. Call it once the node's processes are stopped;
 * it is safe to call twice, and on a host that never had a node.
 */
export function releaseHost(): void {
  const state = readHostState();
  if (!state) return;
  killLeftovers(state.dir);
  unmountUnder(state.dir);
  for (const ns of listDir('/var/run/netns').filter((n) => n.startsWith('cni-'))) {
    run('ip', ['netns', 'delete', ns]);
  }
  for (const link of vethsOnBridge()) run('ip', ['link', 'delete', link]);
  run('ip', ['route', 'delete', NETWORK.serviceCidr, 'dev', NETWORK.bridge]);
  run('ip', ['link', 'delete', NETWORK.bridge]);
  // Tables the node made (ours, kube-proxy's, and the iptables-nft ones the kubelet made) go
  // whole; in tables that were there before, only the kubelet's KUBE-* chains.
  for (const table of nftTables()) {
    if (!state.nftTables.includes(table)) run('nft', ['delete', 'table', ...table.split(' ')]);
  }
  removeKubeChains();
  for (const [name, value] of Object.entries(state.sysctls)) setSysctl(name, value);
  removeCgroups();
  for (const p of FIXED_PATHS) {
    if (!state.paths.includes(p)) fs.rmSync(p, { recursive: true, force: true });
  }
  fs.rmSync(HOST_STATE, { force: true });
}

function setUpNetwork(): void {
  const { bridge, hostAddress, serviceCidr, guardTable } = NETWORK;
  // The bridge exists before the CNI plugin runs, so the API server can bind its address.
  runOrThrow('ip', ['link', 'add', bridge, 'type', 'bridge']);
  runOrThrow('ip', ['address', 'add', `${hostAddress}/24`, 'dev', bridge]);
  runOrThrow('ip', ['link', 'set', bridge, 'up']);
  // The bridge plugin turns forwarding on (pod to ClusterIP is DNAT back onto the bridge):
  // nothing may be forwarded between the bridge and any other interface.
  execFileSync('nft', ['-f', '-'], {
    input: `table inet ${guardTable} {
  chain forward {
    type filter hook forward priority -10; policy accept;
    iifname "${bridge}" oifname != "${bridge}" drop
    oifname "${bridge}" iifname != "${bridge}" drop
  }
}
`,
  });
  // Host-originated Service traffic (the API server calling a webhook) goes onto the bridge
  // with the bridge's source address, even before kube-proxy's DNAT exists.
  runOrThrow('ip', ['route', 'add', serviceCidr, 'dev', bridge, 'src', hostAddress]);
}

function readHostState(): HostState | undefined {
  try {
    return JSON.parse(fs.readFileSync(HOST_STATE, 'utf8')) as HostState;
  } catch {
    return undefined;
  }
}

function sysctl(name: string): string {
  return fs.readFileSync(sysctlPath(name), 'utf8').trim();
}

function setSysctl(name: string, value: string | undefined): void {
  if (value === undefined) return;
  try {
    if (sysctl(name) !== value) fs.writeFileSync(sysctlPath(name), value);
  } catch {
    // A setting this kernel lacks was never changed.
  }
}

function sysctlPath(name: string): string {
  return path.join('/proc/sys', ...name.split('.'));
}

function nftTables(): string[] {
  const out = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((line) => line.replace(/^table\s+/, '').trim())
    .filter(Boolean);
}

/** The kubelet's iptables chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY, ...) in tables it did not make. */
function removeKubeChains(): void {
  for (const tool of ['iptables', 'ip6tables']) {
    if (!onPath(tool)) continue;
    for (const table of ['filter', 'nat', 'mangle']) {
      const rules = spawnSync(tool, ['-t', table, '-S'], { encoding: 'utf8' }).stdout ?? '';
      for (const rule of rules.split('\n').filter((r) => /^-A \S+ .*-j KUBE-/.test(r))) {
        run(tool, ['-t', table, '-D', ...rule.slice(3).split(' ')]);
      }
      const chains = [...rules.matchAll(/^-N (KUBE-\S+)/gm)].map((m) => m[1]!);
      for (const chain of chains) run(tool, ['-t', table, '-F', chain]);
      for (const chain of chains) run(tool, ['-t', table, '-X', chain]);
    }
  }
}

/** The node's and the control plane's programs: what may outlive a test run that was killed. */
const PROGRAMS = new Set([
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
  'containerd',
  'containerd-shim-runc-v2',
]);

/**
 * Kills what is left of the cluster whose node worked in `dir`: containerd's shims always
 * outlive containerd, and a killed run's kube-apiserver can hang in its shutdown. Only our
 * programs, and only those started with a path in the cluster's own directory.
 */
function killLeftovers(dir: string): void {
  const clusterDir = `${path.dirname(dir)}/`;
  for (const pid of listDir('/proc').filter((p) => /^\d+$/.test(p))) {
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!PROGRAMS.has(path.basename(argv[0] ?? '')) || !argv.some((a) => a.includes(clusterDir))) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

function unmountUnder(dir: string): void {
  const mounts = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`) || p.startsWith('/run/containerd/'));
  // Deepest first: a volume's tmpfs sits inside the pod directory.
  for (const mount of mounts.sort((a, b) => b.length - a.length)) run('umount', ['-l', mount]);
}

function vethsOnBridge(): string[] {
  const out = spawnSync('ip', ['-o', 'link', 'show', 'master', NETWORK.bridge], { encoding: 'utf8' }).stdout;
  return (out ?? '')
    .split('\n')
    .map((line) => /^\d+:\s+([^@:]+)/.exec(line)?.[1])
    .filter((name): name is string => Boolean(name));
}

/** The kubelet's QoS tree (cgroupfs driver) in every cgroup v1 hierarchy, deepest first. */
function removeCgroups(): void {
  for (const hierarchy of listDir('/sys/fs/cgroup')) {
    for (const top of ['kubepods', 'k8s.io']) {
      const root = path.join('/sys/fs/cgroup', hierarchy, top);
      if (!fs.existsSync(root)) continue;
      const dirs: string[] = [];
      const walk = (d: string) => {
        dirs.push(d);
        for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
          if (entry.isDirectory()) walk(path.join(d, entry.name));
        }
      };
      walk(root);
      for (const d of dirs.reverse()) {
        try {
          fs.rmdirSync(d);
        } catch {
          // a cgroup still holding a process stays; its process is killed above
        }
      }
    }
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => fs.existsSync(path.join(dir, tool)));
}

function run(command: string, args: string[]): void {
  spawnSync(command, args, { stdio: 'ignore' });
}

function runOrThrow(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed: ${(result.stderr || result.stdout).trim()}`);
  }
}
