/** JSON answers and header reading shared by the handlers that take POST (webhooks, the Partner API). */
import type { IncomingMessage, ServerResponse } from 'node:http';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/**
 * Answers and closes the connection: for answers given before the body was read to its end, so
 * the socket is not reused with the rest of it still on the wire.
 */
export function sendJsonAndClose(res: ServerResponse, status: number, body: unknown): void {
  res.setHeader('connection', 'close');
  sendJson(res, status, body);
}

/** A header sent once; undefined when absent or repeated. */
export function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? undefined : value;
}
