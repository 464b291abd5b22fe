/**
 * Wires the parts together from the configuration (STYLE.md #9: plain constructor injection).
 * Commands take what they need from here; tests build the same parts with their own options.
 */
import type { Config } from './config/config.js';
import { Controller } from './reconciler/controller.js';
import { ApiCallRecorder } from './sinks/aws/api-calls.js';
import { AwsConnector, type ClientHook, type ConnectorOptions } from './sinks/aws/connect.js';
import { HerokuApi, type HerokuRequest } from './sources/heroku/heroku-api.js';
import { Store } from './store/store.js';
import type { Logger } from './util/log.js';

export function openStore(config: Config): Promise<Store> {
  return Store.open({
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
    dataDir: config.dataDir,
    fernetKeys: config.fernetKeys,
  });
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
  close(): Promise<void>;
}

export interface RuntimeOptions {
  onClient?: ClientHook;
  /** The controller's own AWS credentials for AssumeRole; default: the SDK's standard chain. */
  baseCredentials?: ConnectorOptions['baseCredentials'];
  mayMutate?: () => boolean;
}

export async function createRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  const store = await openStore(config);
  const heroku = herokuApi(config);
  const recorder = new ApiCallRecorder();
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
  });
  return {
    config,
    store,
    heroku,
    connector,
    recorder,
    controller,
    logger,
    async close() {
      connector.destroy();
      await store.close();
    },
  };
}
