// Composition root: configuration → adapters → operator.start(). Nothing else lives here.
import os from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from './config/config.ts';
import { createLogger } from './observability/logger.ts';
import { Operator } from './operator.ts';

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2), process.env, os.hostname());
  const logger = createLogger(config.logLevel);
  const kubeConfig = new KubeConfig();
  if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
  else kubeConfig.loadFromCluster();
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
