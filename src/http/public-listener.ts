/**
 * The public listener (`PUBLIC_PORT`): only what Heroku must reach from the internet, the webhook
 * receiver (`POST /webhooks/heroku`) and the add-on Partner API (`/heroku/resources…`). Every
 * request, the unknown ones included, counts against a per-client rate limit. Nothing else is
 * served here: health, metrics, drift and the admin API are on the private listener.
 */
import type http from 'node:http';
import rateLimit from '@fastify/rate-limit';
import { answerNotFound, createApp, listen, type HttpServer, type ListenerOptions } from './listen.js';

/**
 * A handler mounted on a path prefix (webhooks, the Partner API). It answers every method itself
 * and reads the body itself (signatures are computed over the exact bytes sent).
 */
export interface MountedRoute {
  /** `/webhooks/heroku` matches that path and `/webhooks/heroku/…` below it. */
  prefix: string;
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
}

/** The paths the public listener may ever serve: a route outside them is a wiring mistake. */
export const PUBLIC_PREFIXES = ['/webhooks/heroku', '/heroku/resources'] as const;

export interface PublicListenerOptions extends ListenerOptions {
  routes: MountedRoute[];
  /** Requests one client may make per minute; the next ones get 429 with `retry-after`. */
  requestsPerMinute: number;
}

export async function startPublicListener(port: number, options: PublicListenerOptions, host = '0.0.0.0'): Promise<HttpServer> {
  for (const route of options.routes) {
    if (!PUBLIC_PREFIXES.some((p) => route.prefix === p || route.prefix.startsWith(`${p}/`))) {
      throw new Error(`the public listener serves only ${PUBLIC_PREFIXES.join(' and ')}, not ${route.prefix}`);
    }
  }
  const app = createApp(options);
  await app.register(rateLimit, {
    global: true,
    max: options.requestsPerMinute,
    timeWindow: 60_000,
    // Thrown to the error handler, which answers `{ error }` like every other refusal.
    errorResponseBuilder: (_request, context) => Object.assign(new Error(`too many requests: retry in ${Math.ceil(context.ttl / 1000)}s`), { statusCode: 429 }),
  });
  // Unknown paths are limited too, so probing them costs a scanner its allowance.
  answerNotFound(app, app.rateLimit());
  await app.register(async (mounted) => {
    // The mounted handlers read the raw body themselves: nothing is parsed or buffered here.
    mounted.removeAllContentTypeParsers();
    mounted.addContentTypeParser('*', (_request, _payload, done) => done(null));
    for (const route of options.routes) {
      const handler = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
        reply.hijack();
        try {
          await route.handle(request.raw, reply.raw);
        } catch (err) {
          options.onError?.(err, route.prefix);
          if (!reply.raw.headersSent) {
            reply.raw.writeHead(500, { 'content-type': 'application/json', 'cache-control': 'no-store' });
            reply.raw.end(JSON.stringify({ error: 'internal error' }));
          } else reply.raw.destroy();
        }
      };
      mounted.all(route.prefix, handler);
      mounted.all(`${route.prefix}/*`, handler);
    }
  });
  return listen(app, port, host);
}
