// A real node joined to the harness's control plane: containerd and runc run the pods,
// kube-scheduler places them, the kubelet runs them, kube-proxy programs Service addresses.
// The pitfalls each setting below avoids are in docs/decisions/0008-real-node.md.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { issueCertificate, type KeyPair } from '../../../src/projection/certificates.ts';
import type { ControlPlane } from '../control-plane.ts';
import { kubeconfigFor } from '../kubeconfig.ts';
import { startProcess, waitUntil, type ManagedProcess } from '../process.ts';
import { importImages, removeContainers, startContainerd, type Containerd } from './containerd.ts';
import { NETWORK, NODE_NAME, restoreKubeletSysctls } from './host.ts';

const DAY_MS = 24 * 3600 * 1000;

export interface Node {
  readonly name: string;
  readonly processes: ManagedProcess[];
  readonly containerd: Containerd;
  /** Stops the kubelet and starts it again; running containers are not touched. */
  restartKubelet(): Promise<void>;
  /**
   * Stops every pod and process of the node. The host keeps its network until releaseHost(),
   * once the control plane that serves on the bridge has stopped too.
   */
  stop(): Promise<void>;
}

export interface NodeOptions {
  controlPlane: ControlPlane;
  binDir: string;
  /** OCI archives to import (scripts/build-images.sh). */
  imagesDir: string;
  /** Per-run working directory. */
  dir: string;
  /** Kept between runs: containerd's image store. */
  cacheDir: string;
  dieWithParent?: boolean;
  log?: (line: string) => void;
}

/**
 * Starts the node's processes. The host must have been claimed (claimHost) before the control
 * plane started, since the API server binds the bridge's address.
 */
export async function startNode(options: NodeOptions): Promise<Node> {
  const log = options.log ?? ((line: string) => console.log(line));
  const { dir, binDir, controlPlane } = options;
  const dieWithParent = options.dieWithParent ?? true;
  const logDir = path.join(dir, 'logs');
  const processes: ManagedProcess[] = [];
  const timed = async <T>(what: string, start: () => Promise<T>): Promise<T> => {
    const begin = Date.now();
    const result = await start();
    log(`[harness] ${what} in ${((Date.now() - begin) / 1000).toFixed(1)}s`);
    return result;
  };
  const files = writeNodeFiles(dir, controlPlane);

  let containerd: Containerd | undefined;
  try {
    containerd = await timed('containerd started', () =>
      startContainerd({
        dir: path.join(dir, 'containerd'),
        root: path.join(options.cacheDir, 'containerd'),
        logDir,
        dieWithParent,
      }),
    );
    processes.push(containerd.process);
    const imported = await timed('images imported', async () => importImages(containerd!, options.imagesDir));
    if (imported.length > 0) log(`[harness] imported ${imported.join(', ')}`);

    const start = (name: string, args: string[]) =>
      startProcess({ name, command: path.join(binDir, name), args, logDir, dieWithParent });
    processes.push(
      start('kube-scheduler', [
        `--kubeconfig=${files.adminKubeconfig}`,
        `--authentication-kubeconfig=${files.adminKubeconfig}`,
        `--authorization-kubeconfig=${files.adminKubeconfig}`,
        '--bind-address=127.0.0.1',
        '--secure-port=10259',
        '--leader-elect=false',
        '--v=1',
      ]),
    );
    const startKubelet = () =>
      start('kubelet', [
        `--config=${files.kubeletConfig}`,
        `--kubeconfig=${files.kubeletKubeconfig}`,
        `--root-dir=${path.join(dir, 'kubelet')}`,
        `--hostname-override=${NODE_NAME}`,
        `--node-ip=${NETWORK.hostAddress}`,
        '--v=1',
      ]);
    let kubelet = startKubelet();
    processes.push(kubelet);
    processes.push(start('kube-proxy', [`--config=${files.kubeProxyConfig}`, '--v=1']));

    const waitKubelet = async (p: ManagedProcess) => {
      const since = Date.now();
      await waitUntil('kubelet /healthz', () => httpOk('http://127.0.0.1:10248/healthz'), {
        timeoutMs: 60_000,
        process: p,
      });
      // Ready as reported by this kubelet: after a restart the old kubelet's Ready condition
      // stays True for 40 s, so only a heartbeat of the new one counts.
      await waitUntil(`node ${NODE_NAME} Ready`, () => nodeReadySince(controlPlane, since), {
        timeoutMs: 60_000,
        process: p,
      });
      // The kubelet rewrites these once, while its container manager starts (after /healthz
      // answers, before the node is Ready); the host gets its own values back.
      restoreKubeletSysctls();
    };
    await timed(`kubelet healthy and node ${NODE_NAME} Ready`, () => waitKubelet(kubelet));
    await waitUntil('kube-proxy /healthz', () => httpOk('http://127.0.0.1:10256/healthz'), {
      timeoutMs: 30_000,
      process: processes.find((p) => p.name === 'kube-proxy'),
    });

    return {
      name: NODE_NAME,
      processes,
      containerd,
      async restartKubelet() {
        await kubelet.stop();
        kubelet = startKubelet();
        processes[processes.findIndex((p) => p.name === 'kubelet')] = kubelet;
        await waitKubelet(kubelet);
      },
      stop: () => stopNode(processes, containerd, log),
    };
  } catch (error) {
    await stopNode(processes, containerd, log);
    throw error;
  }
}

async function stopNode(
  processes: ManagedProcess[],
  containerd: Containerd | undefined,
  log: (l: string) => void,
) {
  const byName = (name: string) => processes.find((p) => p.name === name);
  for (const name of ['kube-proxy', 'kubelet', 'kube-scheduler']) await byName(name)?.stop();
  // With the kubelet gone, containerd still knows its sandboxes: stop them before it goes.
  if (containerd) removeContainers(containerd.socket);
  await byName('containerd')?.stop();
  log('[harness] node stopped');
}

interface NodeFiles {
  adminKubeconfig: string;
  kubeletKubeconfig: string;
  kubeletConfig: string;
  kubeProxyConfig: string;
}

function writeNodeFiles(dir: string, cp: ControlPlane): NodeFiles {
  const pki = path.join(dir, 'pki');
  fs.mkdirSync(pki, { recursive: true });
  const caFile = path.join(pki, 'ca.crt');
  fs.writeFileSync(caFile, cp.ca.certPem);
  // The Node authorizer knows a kubelet by this identity, and lets it read only its pods' Secrets.
  const kubeletClient = issueCertificate(cp.ca, {
    commonName: `system:node:${NODE_NAME}`,
    organizations: ['system:nodes'],
    usage: 'client',
    validForMs: 30 * DAY_MS,
  });
  const kubeletServing = issueCertificate(cp.ca, {
    commonName: NODE_NAME,
    dnsNames: [NODE_NAME],
    ipAddresses: [NETWORK.hostAddress],
    usage: 'server',
    validForMs: 30 * DAY_MS,
  });
  const write = (name: string, content: string, mode = 0o600) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content, { mode });
    return file;
  };
  const pem = (name: string, pair: KeyPair) => ({
    cert: write(`pki/${name}.crt`, pair.certPem, 0o644),
    key: write(`pki/${name}.key`, pair.keyPem),
  });
  const serving = pem('kubelet-serving', kubeletServing);
  const kubeletConfig = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NETWORK.hostAddress,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: caFile },
    },
    authorization: { mode: 'Webhook' },
    tlsCertFile: serving.cert,
    tlsPrivateKeyFile: serving.key,
    containerRuntimeEndpoint: `unix://${path.join(dir, 'containerd', 'run', 'containerd.sock')}`,
    // cgroup v1 hosts: the kubelet refuses them since 1.35 unless told, and containerd 1.6
    // cannot report its cgroup driver, so the kubelet takes this one.
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    failSwapOn: false,
    podLogsDir: path.join(dir, 'pod-logs'),
    resolvConf: write('resolv.conf', `nameserver ${NETWORK.hostAddress}\noptions ndots:1\n`, 0o644),
    clusterDomain: 'cluster.local',
    // No DNS server runs: pods' lookups fail at once on the host address, instead of the
    // kubelet warning on every pod that it has no cluster DNS to give them.
    clusterDNS: [NETWORK.hostAddress],
    // syncFrequency stays at its default (1m): how fast a rotated Secret reaches a mounted
    // file is measured against what users run.
    configMapAndSecretChangeDetectionStrategy: 'Watch',
    // The images are imported, never pulled again: never collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    imageMinimumGCAge: '87600h',
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    protectKernelDefaults: false,
    rotateCertificates: false,
    serializeImagePulls: false,
    maxPods: 60,
    volumePluginDir: path.join(dir, 'kubelet-plugins'),
    // The default (-999) needs CAP_SYS_RESOURCE, which these VMs do not grant.
    oomScoreAdj: 0,
  };
  const kubeProxyConfig = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: path.join(dir, 'admin.kubeconfig') },
    mode: 'nftables',
    clusterCIDR: NETWORK.podCidr,
    hostnameOverride: NODE_NAME,
    bindAddress: '127.0.0.1',
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    nodePortAddresses: [`${NETWORK.hostAddress}/32`],
    // 0: leave the host's conntrack settings alone.
    conntrack: { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  };
  return {
    adminKubeconfig: write('admin.kubeconfig', kubeconfigFor(cp.apiServerUrl, cp.ca.certPem, cp.admin)),
    kubeletKubeconfig: write(
      'kubelet.kubeconfig',
      kubeconfigFor(cp.apiServerUrl, cp.ca.certPem, kubeletClient),
    ),
    kubeletConfig: write('kubelet.yaml', JSON.stringify(kubeletConfig, null, 2)),
    kubeProxyConfig: write('kube-proxy.yaml', JSON.stringify(kubeProxyConfig, null, 2)),
  };
}

/** Whether the node is Ready, by a heartbeat (node Lease renewal) made after `sinceMs`. */
async function nodeReadySince(cp: ControlPlane, sinceMs: number): Promise<boolean> {
  const node = JSON.parse(await httpsGet(cp, `/api/v1/nodes/${NODE_NAME}`)) as {
    status?: { conditions?: { type: string; status: string }[] };
  };
  const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const lease = JSON.parse(
    await httpsGet(cp, `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE_NAME}`),
  ) as { spec?: { renewTime?: string } };
  // renewTime has microseconds; a second's slack covers the clock's rounding.
  return ready && Date.parse(lease.spec?.renewTime ?? '') >= sinceMs - 1000;
}

function httpsGet(cp: ControlPlane, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      `${cp.apiServerUrl}${urlPath}`,
      { ca: cp.ca.certPem, cert: cp.admin.certPem, key: cp.admin.keyPem, timeout: 2000 },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk));
        res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve(body) : reject(new Error(body))));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}
