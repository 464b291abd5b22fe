/**
 * What both listeners share: a fastify instance that answers in JSON, never with an internal
 * error's text, and a `listen()` that gives back the address and a close that does not wait on
 * idle keep-alive sockets.
 */
import Fastify, { type FastifyError, type FastifyInstance, type preHandlerHookHandler } from 'fastify';
import type { AddressInfo } from 'node:net';

export interface HttpServer {
  url: string;
  /** Every route it serves, `METHOD /path` (HEAD included), so tests can probe them all. */
  routes: readonly string[];
  close(): Promise<void>;
}

export interface ListenerOptions {
  /**
   * How many proxy hops in front (an Ingress) to believe `X-Forwarded-For` from, so the rate limits
   * count clients, not the Ingress. 0 (the default): the client is the socket's peer.
   */
  trustProxyHops?: number;
  /** Called with any error a route did not answer itself (answered 500 without its text). */
  onError?: (err: unknown, route: string) => void;
}

/** The routes each app was given, as `onRoute` saw them (encapsulated plugins' included). */
const ROUTES = new WeakMap<FastifyInstance, string[]>();

export function createApp(options: ListenerOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: false,
    // The nearest `trustProxyHops` addresses of the chain are proxies; the one before them is the client.
    trustProxy: (_address: string, hop: number) => hop < (options.trustProxyHops ?? 0),
    // Query strings and paths are matched as sent; `/healthz/` is not `/healthz`.
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false },
    // Idle keep-alive sockets (a scraper's) would hold close() open until they time out.
    forceCloseConnections: 'idle',
    // A field the schema does not know is refused (400), not dropped: `{"adon": "x", "team": "t"}`
    // must not rotate a whole team because of a typo.
    ajv: { customOptions: { removeAdditional: false } },
    // Names an unknown field (never a value: the body may hold a secret under a misspelt name).
    schemaErrorFormatter: (errors, dataVar) =>
      new Error(
        errors
          .map((e) => (e.keyword === 'additionalProperties' ? `${dataVar} has an unknown field "${String(e.params['additionalProperty'])}"` : `${dataVar}${e.instancePath} ${e.message ?? 'is not valid'}`))
          .join('; '),
      ),
  });
  const routes: string[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push(`${method} ${route.url}`);
  });
  ROUTES.set(app, routes);
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) options.onError?.(err, request.routeOptions.url ?? request.url);
    // A client error's message is fastify's own sentence about the request (bad JSON, body too
    // large, schema mismatch); a server error's text may hold anything, so it is never sent.
    return reply.code(status).header('cache-control', 'no-store').send({ error: status === 500 ? 'internal error' : err.message });
  });
  return app;
}

/** Unknown paths: 404 in JSON, after `preHandler` (the public listener's rate limit) when given. */
export function answerNotFound(app: FastifyInstance, preHandler?: preHandlerHookHandler): void {
  app.setNotFoundHandler(preHandler ? { preHandler } : {}, (_request, reply) => reply.code(404).header('cache-control', 'no-store').send({ error: 'not found' }));
}

export async function listen(app: FastifyInstance, port: number, host: string): Promise<HttpServer> {
  await app.listen({ port, host });
  const address = app.server.address() as AddressInfo;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    routes: [...new Set(ROUTES.get(app) ?? [])].sort(),
    close: () => app.close(),
  };
}
