// Runs the pod webhook: certificate, TLS server, registration, renewal.
import type { Logger } from 'winston';
import type { Clock, TimerHandle } from '../runtime/clock.ts';
import type { KubeHttp } from '../runtime/http.ts';
import { WebhookCertificates, type WebhookTls } from './webhook-certificates.ts';
import { registerWebhook } from './webhook-registration.ts';
import { serveWebhook, type WebhookDeps, type WebhookServer } from './webhook-server.ts';

export interface PodWebhookOptions extends WebhookDeps {
  http: KubeHttp;
  clock: Clock;
  logger: Logger;
  address: { host?: string; port: number };
  operatorNamespace: string;
  service: string;
  url?: string;
  failurePolicy: 'Ignore' | 'Fail';
  /** Told the CA bundle at start and whenever it changes (the access audit publishes it). */
  onCaBundle?(caBundle: string): Promise<void>;
  /** How often the certificate is checked for renewal. */
  checkEveryMs?: number;
  leafValidityMs?: number;
}

export class PodWebhook {
  private readonly options: PodWebhookOptions;
  private readonly certificates: WebhookCertificates;
  private server?: WebhookServer;
  private tls?: WebhookTls;
  private timer?: TimerHandle;
  private stopped = false;

  constructor(options: PodWebhookOptions) {
    this.options = options;
    const { service, operatorNamespace: ns } = options;
    this.certificates = new WebhookCertificates({
      http: options.http,
      clock: options.clock,
      logger: options.logger,
      namespace: ns,
      dnsNames: [
        `${service}.${ns}.svc`,
        `${service}.${ns}.svc.cluster.local`,
        `${service}.${ns}`,
        service,
        'localhost',
      ],
      ipAddresses: ['127.0.0.1'],
      leafValidityMs: options.leafValidityMs,
    });
  }

  /** The bound port (":0" picks a free one). */
  get port(): number | undefined {
    return this.server?.port;
  }

  /** When the certificate being served expires. */
  get notAfter(): number | undefined {
    return this.tls?.notAfter;
  }

  async start(): Promise<void> {
    this.tls = await this.certificates.ensure();
    this.server = await serveWebhook(this.options.address, this.tls, this.options);
    await this.register();
    this.schedule();
  }

  /** The CA bundle clients must trust. */
  get caBundle(): string | undefined {
    return this.tls?.caBundle;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.clock.clearTimer(this.timer);
    await this.server?.close();
  }

  /** Renews the certificate if due, then serves and registers what is current. */
  async check(): Promise<void> {
    const next = await this.certificates.ensure();
    if (next.certPem !== this.tls?.certPem) {
      this.server?.updateTls(next);
      this.options.logger.info('webhook certificate renewed', {
        notAfter: new Date(next.notAfter).toISOString(),
      });
    }
    const caChanged = next.caBundle !== this.tls?.caBundle;
    this.tls = next;
    if (caChanged) await this.register();
  }

  private async register(): Promise<void> {
    await this.options.onCaBundle?.(this.tls!.caBundle);
    const result = await registerWebhook({
      http: this.options.http,
      caBundle: this.tls!.caBundle,
      operatorNamespace: this.options.operatorNamespace,
      failurePolicy: this.options.failurePolicy,
      url: this.options.url,
    });
    if (result === 'missing') {
      this.options.logger.warn(
        'MutatingWebhookConfiguration mlsecrets-pod-injector not found: install the chart, or run with --webhook-url outside a cluster',
      );
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(() => {
      this.check()
        .catch((error: unknown) =>
          this.options.logger.warn('webhook certificate check failed', { error: (error as Error)?.message }),
        )
        .finally(() => this.schedule());
    }, this.options.checkEveryMs ?? 3600_000);
  }
}
