/**
 * Wires the parts together from the configuration (STYLE.md #9: plain constructor injection).
 * Commands take what they need from here; tests build the same parts with their own options.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { need, type Config } from './config/config.js';
import { SecretBox } from './crypto/secret-box.js';
import { Metrics } from './metrics/metrics.js';
import { Controller } from './reconciler/controller.js';
import type { DriftReport } from './reconciler/drift.js';
import { ApiCallRecorder } from './sinks/aws/api-calls.js';
import { AwsConnector, type ClientHook, type ConnectorOptions } from './sinks/aws/connect.js';
import { HerokuApi, type HerokuRequest } from './sources/heroku/heroku-api.js';
import { Store } from './store/store.js';
import type { Logger } from './util/log.js';

export async function openStore(config: Config, logger?: Logger): Promise<Store> {
  return Store.open({
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
    dataDir: config.dataDir,
    fernetKeys: await fernetKeys(config, logger),
  });
}

const KEY_FILE = 'fernet.key';

/**
 * FERNET_KEYS, or, for the embedded database only, a key kept beside it in the data folder so the
 * controller runs on a fresh machine with no setup. A server database always needs FERNET_KEYS:
 * a key generated on one replica would be unknown to the others.
 */
async function fernetKeys(config: Config, logger?: Logger): Promise<string[]> {
  if (config.fernetKeys.length > 0) return config.fernetKeys;
  if (config.databaseUrl) {
    need(config, 'FERNET_KEYS');
  }
  const file = path.join(config.dataDir, KEY_FILE);
  try {
    return [(await readFile(file, 'utf8')).trim()];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(file, `${SecretBox.generateKey()}\n`, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  logger?.warn(
    { reason: 'generated-fernet-key', file },
    `FERNET_KEYS is not set: secrets in the embedded database are encrypted with a key generated in ${file}. Set FERNET_KEYS for anything but a trial`,
  );
  return [(await readFile(file, 'utf8')).trim()];
}

export function herokuApi(config: Config, onRequest?: (request: HerokuRequest) => void): HerokuApi {
  return new HerokuApi({
    url: config.herokuApiUrl,
    token: config.herokuApiToken ?? '',
    timeoutMs: config.requestTimeoutMs,
    ...(onRequest ? { onRequest } : {}),
  });
}

export interface Runtime {
  config: Config;
  store: Store;
  heroku: HerokuApi;
  connector: AwsConnector;
  recorder: ApiCallRecorder;
  controller: Controller;
  logger: Logger;
  /** One per runtime: every AWS call and Heroku request is counted here. */
  metrics: Metrics;
  /** The latest drift report, replaced after each pass; served on `/drift`. */
  reports: { latest: DriftReport | null };
  close(): Promise<void>;
}

export interface RuntimeOptions {
  onClient?: ClientHook;
  /** The controller's clock (grace periods, deep-check windows, breakers); tests move it. */
  clock?: () => Date;
  /** The controller's own AWS credentials for AssumeRole; default: the SDK's standard chain. */
  baseCredentials?: ConnectorOptions['baseCredentials'];
  mayMutate?: () => boolean;
}

export async function createRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  const store = await openStore(config, logger);
  const metrics = new Metrics();
  const heroku: HerokuApi = herokuApi(config, (request) => {
    metrics.observeHerokuRequest(request);
    if (heroku.rateLimitRemaining !== null) metrics.setHerokuRateLimit(heroku.rateLimitRemaining);
  });
  const recorder = new ApiCallRecorder();
  recorder.onCall((call) => metrics.observeAwsCall(call));
  const connector = new AwsConnector({
    aws: config.aws,
    instanceId: config.instanceId,
    recorder,
    requestTimeoutMs: config.requestTimeoutMs,
    ...(options.onClient ? { onClient: options.onClient } : {}),
    ...(options.baseCredentials ? { baseCredentials: options.baseCredentials } : {}),
  });
  const controller = new Controller({
    config,
    store,
    heroku,
    connector,
    logger,
    ...(options.mayMutate ? { mayMutate: options.mayMutate } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return {
    config,
    store,
    heroku,
    connector,
    recorder,
    controller,
    logger,
    metrics,
    reports: { latest: null },
    async close() {
      connector.destroy();
      await store.close();
    },
  };
}
