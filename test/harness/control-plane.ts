import { generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import {
  createCertificateAuthority,
  issueCertificate,
  type KeyPair,
} from '../../src/projection/certificates.ts';
import { kubeconfigFor } from './kubeconfig.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type ManagedProcess } from './process.ts';
import { startTcpLatencyProxy, type TcpLatencyProxy } from './tcp-latency-proxy.ts';

const DAY_MS = 24 * 3600 * 1000;

/** A running etcd + kube-apiserver + kube-controller-manager on loopback. */
export interface ControlPlane {
  readonly dir: string;
  /** The cluster CA: a node joining the cluster has its kubelet certificates issued by it. */
  readonly ca: KeyPair;
  /** The admin identity (system:masters) of the kubeconfig. */
  readonly admin: KeyPair;
  readonly kubeconfigPath: string;
  readonly apiServerUrl: string;
  readonly etcdUrl: string;
  readonly processes: ManagedProcess[];
  /**
   * Stops kube-controller-manager, kube-apiserver and etcd, in that order; each gets SIGKILL
   * after `graceMs` (default 10 s).
   */
  stop(graceMs?: number): Promise<void>;
  /** Kills kube-apiserver with SIGKILL (fault tests); etcd keeps the data. */
  killApiServer(): Promise<void>;
  /**
   * Starts kube-apiserver again on the same port and etcd; `moreArgs` are added from now on
   * (the access audit's webhook, configured as an admin would, after the operator is up).
   */
  startApiServer(moreArgs?: string[]): Promise<void>;
  /** Freezes etcd (SIGSTOP): it holds its connections and answers nothing until resumeEtcd(). */
  pauseEtcd(): void;
  /** Lets a paused etcd run again (SIGCONT). */
  resumeEtcd(): void;
  /** With `etcdProxy`: adds this much latency each way between kube-apiserver and etcd. */
  setEtcdLatency(ms: number): void;
}

export interface ControlPlaneOptions {
  /** Directory holding etcd, kube-apiserver and kube-controller-manager. */
  binDir: string;
  /** Working directory for data, certificates and logs. */
  dir: string;
  dieWithParent?: boolean;
  log?: (line: string) => void;
  /** kube-apiserver reaches etcd through a TCP proxy of ours, so a test can slow it (setEtcdLatency). */
  etcdProxy?: boolean;
  /** More kube-apiserver flags, after the defaults (the benchmark's feature gates). */
  apiServerArgs?: string[];
  /**
   * A real node will join (test/harness/node/). The API server then serves on the node
   * bridge's host address, which pods reach through the `kubernetes` Service, and runs as a
   * real cluster's does: ServiceAccount admission (pods get their tokens), the Node and RBAC
   * authorizers with NodeRestriction, and the `kubernetes` Service's endpoints kept.
   * Without it the control plane is envtest's: loopback only, no kubelet expected.
   */
  node?: { address: string };
}

/**
 * Builds the control plane binaries (or reuses the cache / KUBEBUILDER_ASSETS) and returns
 * the directory that holds them.
 */
export function ensureControlPlaneBinaries(repoRoot: string): string {
  const script = path.join(repoRoot, 'scripts', 'build-control-plane.sh');
  const out = execFileSync('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const lines = out.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/**
 * Starts the control plane. Flags follow envtest's (controller-runtime) defaults, plus a
 * kube-controller-manager so garbage collection and namespace deletion really happen.
 */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.log ?? ((line: string) => console.log(line));
  const { dir, binDir } = options;
  const dieWithParent = options.dieWithParent ?? true;
  const certDir = path.join(dir, 'pki');
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(certDir, { recursive: true });
  const processes: ManagedProcess[] = [];
  let etcdProxy: TcpLatencyProxy | undefined;
  const timed = async (name: string, start: () => Promise<ManagedProcess>, detail: string) => {
    const begin = Date.now();
    const p = await start();
    processes.push(p);
    log(`[harness] ${name} started pid=${p.pid} ${detail} in ${((Date.now() - begin) / 1000).toFixed(1)}s`);
    return p;
  };

  try {
    const pki = writePki(certDir, options.node);
    const [etcdPort, etcdPeerPort, apiPort, kcmPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const apiHost = options.node?.address ?? '127.0.0.1';
    const apiServerUrl = `https://${apiHost}:${apiPort}`;

    await timed(
      'etcd',
      async () => {
        const p = startProcess({
          name: 'etcd',
          command: path.join(binDir, 'etcd'),
          args: [
            `--data-dir=${path.join(dir, 'etcd')}`,
            `--listen-client-urls=${etcdUrl}`,
            `--advertise-client-urls=${etcdUrl}`,
            `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
            `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
            `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
            // Test data is thrown away: skip fsync, it is most of etcd's latency on slow disks.
            '--unsafe-no-fsync=true',
            '--log-level=warn',
          ],
          logDir,
          dieWithParent,
        });
        await waitUntil('etcd /health', async () => (await fetch(`${etcdUrl}/health`)).ok, {
          timeoutMs: 30_000,
          process: p,
        });
        return p;
      },
      `on ${etcdUrl}`,
    );

    if (options.etcdProxy) etcdProxy = await startTcpLatencyProxy(etcdPort);
    const apiEtcdUrl = etcdProxy ? `http://127.0.0.1:${etcdProxy.port}` : etcdUrl;
    const kubeconfigPath = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfigPath, kubeconfigFor(apiServerUrl, pki.ca.certPem, pki.admin), { mode: 0o600 });

    let addedArgs: string[] = [];
    const startApiServer = async () => {
      const p = startProcess({
        name: 'kube-apiserver',
        command: path.join(binDir, 'kube-apiserver'),
        args: [
          `--etcd-servers=${apiEtcdUrl}`,
          `--cert-dir=${certDir}`,
          `--secure-port=${apiPort}`,
          `--bind-address=${apiHost}`,
          `--advertise-address=${apiHost}`,
          '--service-cluster-ip-range=10.0.0.0/24',
          '--allow-privileged=true',
          `--client-ca-file=${pki.files.caCert}`,
          `--tls-cert-file=${pki.files.servingCert}`,
          `--tls-private-key-file=${pki.files.servingKey}`,
          `--service-account-key-file=${pki.files.saPublic}`,
          `--service-account-signing-key-file=${pki.files.saPrivate}`,
          `--service-account-issuer=${apiServerUrl}`,
          ...(options.node
            ? [
                '--authorization-mode=Node,RBAC',
                '--enable-admission-plugins=NodeRestriction',
                `--kubelet-client-certificate=${pki.files.adminCert}`,
                `--kubelet-client-key=${pki.files.adminKey}`,
                `--kubelet-certificate-authority=${pki.files.caCert}`,
                // `kubectl logs` and exec reach the kubelet by the node's address, not by a
                // host name this machine cannot resolve.
                '--kubelet-preferred-address-types=InternalIP',
              ]
            : [
                '--authorization-mode=RBAC',
                // As envtest: no kubelet ever mounts tokens here, and a pod created right after
                // its namespace must not wait for the service-account controller.
                '--disable-admission-plugins=ServiceAccount',
                '--endpoint-reconciler-type=none',
              ]),
          '--enable-priority-and-fairness=false',
          '--v=1',
          ...(options.apiServerArgs ?? []),
          ...addedArgs,
        ],
        logDir,
        dieWithParent,
      });
      await waitUntil('kube-apiserver /readyz', () => httpsOk(`${apiServerUrl}/readyz`, pki), {
        timeoutMs: 60_000,
        process: p,
      });
      return p;
    };
    await timed('kube-apiserver', startApiServer, `on ${apiServerUrl}`);

    await timed(
      'kube-controller-manager',
      async () => {
        const p = startProcess({
          name: 'kube-controller-manager',
          command: path.join(binDir, 'kube-controller-manager'),
          args: [
            `--kubeconfig=${kubeconfigPath}`,
            `--authentication-kubeconfig=${kubeconfigPath}`,
            `--authorization-kubeconfig=${kubeconfigPath}`,
            '--bind-address=127.0.0.1',
            `--secure-port=${kcmPort}`,
            `--cert-dir=${path.join(dir, 'kcm-certs')}`,
            '--leader-elect=false',
            `--root-ca-file=${pki.files.caCert}`,
            `--service-account-private-key-file=${pki.files.saPrivate}`,
            '--use-service-account-credentials=false',
            // GC and namespace deletion act within a second rather than after resync-sized delays.
            '--concurrent-gc-syncs=5',
            '--v=1',
          ],
          logDir,
          dieWithParent,
        });
        await waitUntil(
          'kube-controller-manager /healthz',
          () => httpsOk(`https://127.0.0.1:${kcmPort}/healthz`),
          {
            timeoutMs: 60_000,
            process: p,
          },
        );
        return p;
      },
      `on 127.0.0.1:${kcmPort}`,
    );

    return {
      dir,
      ca: pki.ca,
      admin: pki.admin,
      kubeconfigPath,
      apiServerUrl,
      etcdUrl,
      processes,
      async stop(graceMs) {
        const etcd = processes.find((p) => p.name === 'etcd');
        if (etcd) signal(etcd.pid, 'SIGCONT'); // a paused etcd cannot stop
        await stopAll(processes, log, graceMs);
        await etcdProxy?.close();
      },
      pauseEtcd() {
        const etcd = processes.find((p) => p.name === 'etcd')!;
        signal(etcd.pid, 'SIGSTOP');
        log(`[harness] etcd paused (SIGSTOP) pid=${etcd.pid}`);
      },
      resumeEtcd() {
        const etcd = processes.find((p) => p.name === 'etcd')!;
        signal(etcd.pid, 'SIGCONT');
        log(`[harness] etcd resumed (SIGCONT) pid=${etcd.pid}`);
      },
      setEtcdLatency(ms) {
        if (!etcdProxy) throw new Error('setEtcdLatency needs startControlPlane({ etcdProxy: true })');
        etcdProxy.setLatency(ms);
        log(`[harness] etcd latency ${ms}ms each way`);
      },
      async killApiServer() {
        const index = processes.findIndex((p) => p.name === 'kube-apiserver');
        await processes[index]!.stop(0); // SIGKILL at once: a crash, not a shutdown
        log(`[harness] kube-apiserver killed pid=${processes[index]!.pid}`);
      },
      async startApiServer(moreArgs) {
        if (moreArgs) addedArgs = [...addedArgs, ...moreArgs];
        const index = processes.findIndex((p) => p.name === 'kube-apiserver');
        const begin = Date.now();
        processes[index] = await startApiServer();
        log(
          `[harness] kube-apiserver restarted pid=${processes[index]!.pid} in ${((Date.now() - begin) / 1000).toFixed(1)}s`,
        );
      },
    };
  } catch (error) {
    await stopAll(processes, log);
    await etcdProxy?.close();
    throw error;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function stopAll(
  processes: ManagedProcess[],
  log: (line: string) => void,
  graceMs?: number,
): Promise<void> {
  for (const p of [...processes].reverse()) {
    const begin = Date.now();
    await p.stop(graceMs);
    log(`[harness] ${p.name} stopped pid=${p.pid} in ${((Date.now() - begin) / 1000).toFixed(1)}s`);
  }
}

interface Pki {
  ca: KeyPair;
  admin: KeyPair;
  files: Record<
    'caCert' | 'servingCert' | 'servingKey' | 'saPublic' | 'saPrivate' | 'adminCert' | 'adminKey',
    string
  >;
}

function writePki(certDir: string, node: ControlPlaneOptions['node']): Pki {
  const ca = createCertificateAuthority('mlsecrets-local-ca', 30 * DAY_MS);
  const serving = issueCertificate(ca, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
    ipAddresses: ['127.0.0.1', '10.0.0.1', ...(node ? [node.address] : [])],
    usage: 'server',
    validForMs: 30 * DAY_MS,
  });
  // system:masters is the envtest admin identity: it bypasses RBAC.
  const admin = issueCertificate(ca, {
    commonName: 'admin',
    organizations: ['system:masters'],
    usage: 'client',
    validForMs: 30 * DAY_MS,
  });
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const files = {
    caCert: path.join(certDir, 'ca.crt'),
    servingCert: path.join(certDir, 'apiserver.crt'),
    servingKey: path.join(certDir, 'apiserver.key'),
    saPublic: path.join(certDir, 'sa.pub'),
    saPrivate: path.join(certDir, 'sa.key'),
    // The API server's identity towards kubelets (kubectl logs, exec).
    adminCert: path.join(certDir, 'admin.crt'),
    adminKey: path.join(certDir, 'admin.key'),
  };
  fs.writeFileSync(files.caCert, ca.certPem);
  fs.writeFileSync(files.servingCert, serving.certPem);
  fs.writeFileSync(files.servingKey, serving.keyPem, { mode: 0o600 });
  fs.writeFileSync(files.saPublic, sa.publicKey.export({ type: 'spki', format: 'pem' }));
  fs.writeFileSync(files.saPrivate, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(files.adminCert, admin.certPem);
  fs.writeFileSync(files.adminKey, admin.keyPem, { mode: 0o600 });
  return { ca, admin, files };
}

/** GET that resolves true on a 2xx; with `pki`, presents the admin identity and checks the CA. */
function httpsOk(url: string, pki?: Pki): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      url,
      pki
        ? { ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem, timeout: 2000 }
        : { rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 500) < 300);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}
