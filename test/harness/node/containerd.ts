// containerd (Debian's 1.6) for the test node: its configuration, its start, and the images
// it runs, imported from OCI archives since there is no registry to pull from.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startProcess, waitUntil, type ManagedProcess } from '../process.ts';
import { NETWORK } from './host.ts';

/** The pod sandbox image scripts/build-images.sh builds. */
export const PAUSE_IMAGE = 'localhost/mlsecrets-test/pause:3.10';

export interface Containerd {
  readonly process: ManagedProcess;
  readonly socket: string;
  /** Runs `ctr -n k8s.io` against this containerd. */
  ctr(...args: string[]): string;
}

export interface ContainerdOptions {
  /** Per-run state: sockets, sandboxes, the CNI configuration. */
  dir: string;
  /** Images and snapshots, kept between runs so a warm start imports nothing. */
  root: string;
  logDir: string;
  dieWithParent: boolean;
}

export async function startContainerd(options: ContainerdOptions): Promise<Containerd> {
  const { dir, root } = options;
  const socket = path.join(dir, 'run', 'containerd.sock');
  const cniConfDir = path.join(dir, 'cni', 'net.d');
  fs.mkdirSync(path.dirname(socket), { recursive: true });
  fs.mkdirSync(cniConfDir, { recursive: true });
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(cniConfDir, '10-mlsecrets.conflist'), cniConfig(path.join(dir, 'cni', 'ipam')));
  const configFile = path.join(dir, 'containerd.toml');
  fs.writeFileSync(configFile, containerdConfig({ dir, root, socket, cniConfDir }));

  const process = startProcess({
    name: 'containerd',
    command: 'containerd',
    args: ['--config', configFile],
    logDir: options.logDir,
    dieWithParent: options.dieWithParent,
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      // Every image the node runs is imported. A pull of anything else goes to a closed
      // local port and fails at once, instead of reaching out of this machine.
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      NO_PROXY: '',
    },
  });
  const ctr = (...args: string[]) =>
    execFileSync('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  await waitUntil('containerd', async () => (ctr('version'), true), { timeoutMs: 30_000, process });
  return { process, socket, ctr };
}

/**
 * Imports each OCI archive in `imagesDir` whose image containerd does not hold at the same
 * digest (a rebuilt operator image keeps its name and changes its digest).
 */
export function importImages(containerd: Containerd, imagesDir: string): string[] {
  const held = new Map(
    containerd
      .ctr('images', 'list')
      .split('\n')
      .slice(1)
      .map((line) => line.split(/\s+/))
      .map(([name, , digest]) => [name, digest]),
  );
  const imported: string[] = [];
  for (const archive of fs.readdirSync(imagesDir).filter((f) => f.endsWith('.tar'))) {
    const file = path.join(imagesDir, archive);
    const { name, digest } = archiveImage(file);
    if (held.get(name) === digest) continue;
    try {
      containerd.ctr('images', 'import', file);
    } catch {
      // Seen once right after the archive was rebuilt: "parent snapshot ... does not exist"
      // while unpacking over the old image of that name. Without it the import goes through.
      if (held.has(name)) containerd.ctr('images', 'remove', name);
      containerd.ctr('images', 'import', file);
    }
    imported.push(name);
  }
  return imported;
}

/** The image name and manifest digest an OCI archive carries (its index.json). */
function archiveImage(file: string): { name: string; digest: string } {
  const index = JSON.parse(execFileSync('tar', ['-xOf', file, 'index.json'], { encoding: 'utf8' })) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const manifest = index.manifests[0];
  const name = manifest?.annotations?.['io.containerd.image.name'];
  if (!manifest || !name) throw new Error(`${file}: no io.containerd.image.name annotation in index.json`);
  return { name, digest: manifest.digest };
}

/**
 * Kills every container the kubelet left (call it with the kubelet stopped), so no container
 * outlives the node and the persistent image store holds no stale ones at the next start.
 */
export function removeContainers(socket: string): void {
  const ctr = (...args: string[]) =>
    spawnSync('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], { encoding: 'utf8' });
  const list = (kind: string) => ctr(kind, 'list', '-q').stdout?.split('\n').filter(Boolean) ?? [];
  for (const task of list('tasks')) ctr('tasks', 'delete', '--force', task);
  for (const container of list('containers')) ctr('containers', 'delete', container);
}

function containerdConfig(p: { dir: string; root: string; socket: string; cniConfDir: string }): string {
  return `version = 2
root = "${p.root}"
state = "${path.join(p.dir, 'containerd-state')}"
[grpc]
  address = "${p.socket}"
[ttrpc]
  address = "${p.socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  enable_cdi = false
  disable_apparmor = true
  # These VMs do not grant CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below its own,
  # and every sandbox would fail with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${p.cniConfDir}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${path.join(p.dir, 'opt')}"
`;
}

/** The bridge plugin on our bridge: no masquerade, so pod traffic has nowhere to go but here. */
function cniConfig(ipamDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'mlsecrets',
      plugins: [
        {
          type: 'bridge',
          bridge: NETWORK.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: ipamDir,
            ranges: [[{ subnet: NETWORK.podCidr, gateway: NETWORK.hostAddress }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}
