// Composition root: configuration → adapters → operator.start(). Nothing else lives here.
import os from 'node:os';
import { loadConfig } from './config/config.ts';
import { loadConnection } from './runtime/connection.ts';
import { KubeHttp } from './runtime/http.ts';
import { ensureOperatorNamespace } from './kube/operator-namespace.ts';
import { createLogger } from './observability/logger.ts';
import { Operator } from './operator.ts';

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2), process.env, os.hostname());
  const logger = createLogger(config.logLevel);
  // Not client-node's KubeConfig unless the kubeconfig needs it (exec plugins, OIDC, proxies):
  // its generated API models would be ~45 MiB of the operator's memory.
  const kubeConfig = await loadConnection(config.kubeconfig);
  // Outside a cluster, a fresh one has no operator namespace yet (see config.ts).
  if (config.createOperatorNamespace) {
    await ensureOperatorNamespace(new KubeHttp(kubeConfig), config.operatorNamespace, logger);
  }
  const operator = new Operator({
    config,
    kubeConfig,
    logger,
    // Lost the Lease: stop at once and let Kubernetes restart the pod as a follower.
    onLostLeadership: () => {
      logger.error('leadership lost; exiting');
      process.exit(1);
    },
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    operator
      .stop()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await operator.start();
}

main().catch((error: unknown) => {
  // Start-up errors are configuration or connectivity problems; their messages hold no values.
  console.error(
    JSON.stringify({ level: 'error', message: 'operator failed to start', error: (error as Error)?.message }),
  );
  process.exit(1);
});
