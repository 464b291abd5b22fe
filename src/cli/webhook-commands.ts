/**
 * `webhooks register --url <public url>`: subscribes every app of the linked teams to the
 * controller's `POST /webhooks/heroku` (api:addon and api:addon-attachment events), signed with
 * the first of WEBHOOK_SECRETS. Idempotent: running it again changes nothing; `--rotate-secret`
 * writes the current secret into existing subscriptions after a rotation. The secret is sent to
 * Heroku only, never printed or logged.
 */
import { ConfigError } from '../util/errors.js';
import { loadConfig, need, type Config } from '../config/config.js';
import { herokuApi, openStore } from '../runtime.js';
import { registerWebhooksCommand, type WebhookApi, type WebhookLevel } from '../webhooks/register-webhooks.js';
import type { OutputFormat } from './output.js';

export interface WebhooksRegisterOptions {
  /** The receiver's public URL, e.g. https://s3-controller.example.com/webhooks/heroku. */
  url: string;
  output: OutputFormat;
  /** `notify` (default): one delivery attempt, the resync is the safety net; `sync`: Heroku retries. */
  level?: WebhookLevel;
  /** Also write the secret into subscriptions that are otherwise up to date (after a rotation). */
  rotateSecret?: boolean;
}

export interface WebhooksRegisterDeps {
  config?: Config;
  /** The Platform API; default: the configured one. */
  api?: WebhookApi;
  write?: (text: string) => void;
}

/** Returns the exit code: 0 every app subscribed, 2 anything failed (listed in the output). */
export async function webhooksRegisterCommand(options: WebhooksRegisterOptions, deps: WebhooksRegisterDeps = {}): Promise<number> {
  const config = deps.config ?? loadConfig();
  need(config, 'HEROKU_API_TOKEN');
  const secret = config.webhookSecrets[0];
  if (secret === undefined) {
    throw new ConfigError(
      'WEBHOOK_SECRETS',
      'is not set. Set it to a random secret (e.g. `openssl rand -hex 32`) on the controller and here, so deliveries can be verified, then register again.',
    );
  }
  const store = await openStore(config);
  try {
    return await registerWebhooksCommand(
      {
        url: options.url,
        secret,
        output: options.output,
        ...(options.level ? { level: options.level } : {}),
        ...(options.rotateSecret ? { rotateSecret: true } : {}),
      },
      { api: deps.api ?? herokuApi(config), links: store.links, ...(deps.write ? { write: deps.write } : {}) },
    );
  } finally {
    await store.close();
  }
}
