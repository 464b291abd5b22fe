/**
 * The app-webhooks receiver: signature verification on its own, payload parsing with Heroku's
 * published examples, and the handler mounted on a real node:http server on 127.0.0.1, driven with
 * signed, mis-signed, oversized, malformed and replayed deliveries.
 */
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkQueue } from '../../src/queue/work-queue.js';
import {
  createWebhookHandler,
  parseWebhookEvent,
  signHerokuWebhook,
  verifyHerokuSignature,
  type WebhookHandlerOptions,
} from '../../src/webhooks/heroku-webhooks.js';
import { MemoryReplayStore } from '../../src/webhooks/replay-store.js';
import { ManualClock } from '../queue/manual-clock.js';

const EVENTS_DIR = new URL('../../../shared/heroku/webhook-events/', import.meta.url);
const SECRET = 'test-webhook-secret-3f9c1e7a2b';
const OLD_SECRET = 'previous-webhook-secret-77d0aa';

/** The published example payloads, as raw bytes (signatures are over bytes, not parsed JSON). */
const EXAMPLES: Record<string, Buffer> = Object.fromEntries(
  readdirSync(EVENTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f.replace(/\.json$/, ''), readFileSync(new URL(f, EVENTS_DIR))]),
);

function example(name: string): Buffer {
  const body = EXAMPLES[name];
  if (!body) throw new Error(`no example ${name} in ${EVENTS_DIR.pathname}`);
  return body;
}

function exampleJson(name: string): Record<string, any> {
  return JSON.parse(example(name).toString('utf8')) as Record<string, any>;
}

/** An example with fields replaced, re-serialised (a new delivery Heroku might send). */
function variant(name: string, edit: (event: Record<string, any>) => void): Buffer {
  const event = exampleJson(name);
  edit(event);
  return Buffer.from(JSON.stringify(event));
}

const ADDON_IDS: Record<string, string> = {
  'api-addon-create': 'ac7eaeaf-cac3-43f2-8854-7c823e7bf755',
  'api-addon-update': '1aa22eb5-157b-4bf3-92d9-d8a256eef621',
  'api-addon-destroy': '1ecadf4a-0775-4868-8103-3f5fb689631d',
  // For attachments the add-on's id, never the attachment's own `data.id`.
  'api-addon-attachment-create': 'c53451e0-bd35-4a30-b2c1-6220cc8d759e',
  'api-addon-attachment-destroy': '1ecadf4a-0775-4868-8103-3f5fb689631d',
};

describe('verifyHerokuSignature', () => {
  const body = example('api-addon-create');
  const good = signHerokuWebhook(body, SECRET);

  it('accepts the base64 HMAC-SHA256 of the raw body under the secret', () => {
    expect(good).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(verifyHerokuSignature(body, good, [SECRET])).toBe(true);
    expect(verifyHerokuSignature(body, ` ${good} `, [SECRET])).toBe(true);
  });

  it('refuses a tampered body, a wrong secret, and no secret at all', () => {
    const tampered = Buffer.from(body.toString('utf8').replace('ac7eaeaf', 'bc7eaeaf'));
    expect(verifyHerokuSignature(tampered, good, [SECRET])).toBe(false);
    expect(verifyHerokuSignature(body, good, ['another-secret'])).toBe(false);
    expect(verifyHerokuSignature(body, good, [])).toBe(false);
    // The same JSON re-serialised is different bytes: the signature is over the raw body.
    expect(verifyHerokuSignature(Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8')))), good, [SECRET])).toBe(false);
  });

  it('accepts any of several secrets (rotation)', () => {
    const old = signHerokuWebhook(body, OLD_SECRET);
    expect(verifyHerokuSignature(body, old, [SECRET, OLD_SECRET])).toBe(true);
    expect(verifyHerokuSignature(body, good, [SECRET, OLD_SECRET])).toBe(true);
    expect(verifyHerokuSignature(body, old, [SECRET])).toBe(false);
  });

  it('is false, never an exception, for missing, empty, short, long, hex or non-canonical headers', () => {
    const digest = Buffer.from(good, 'base64');
    for (const header of [
      undefined,
      '',
      '   ',
      'not base64 at all!',
      digest.subarray(0, 16).toString('base64'),
      Buffer.concat([digest, Buffer.from([0])]).toString('base64'),
      digest.toString('hex'),
      `${good.slice(0, 10)}!${good.slice(10)}`, // Node would skip the "!" when decoding
      good.replace(/=$/, ''),
      `sha256=${good}`,
    ]) {
      expect(verifyHerokuSignature(body, header, [SECRET]), String(header)).toBe(false);
    }
  });

  it('never matches with an empty secret', () => {
    expect(verifyHerokuSignature(body, signHerokuWebhook(body, ''), [''])).toBe(false);
  });
});

describe('parseWebhookEvent', () => {
  it.each(Object.entries(ADDON_IDS))('%s names add-on %s', (name, addonId) => {
    const event = parseWebhookEvent(exampleJson(name));
    expect(event).toMatchObject({ kind: 'addon', addonId, deliveryId: 'd244009a-670f-4340-88e9-789a4f9002d5' });
    expect(event.kind === 'addon' && event.entity).toBe(name.startsWith('api-addon-attachment') ? 'api:addon-attachment' : 'api:addon');
  });

  it('keys replays by delivery and event, so the examples (which share a delivery id) stay apart', () => {
    const keys = Object.keys(ADDON_IDS).map((name) => {
      const event = parseWebhookEvent(exampleJson(name));
      return event.kind === 'addon' ? event.replayKey : null;
    });
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys[0]).toBe('d244009a-670f-4340-88e9-789a4f9002d5/c3441ec5-343d-4627-827f-94279554ed23');
  });

  it('falls back to `resource` when the metadata does not name the entity, and to the delivery id alone', () => {
    const event = exampleJson('api-addon-attachment-create');
    delete event['webhook_metadata']['event'];
    delete event['id'];
    expect(parseWebhookEvent(event)).toMatchObject({
      kind: 'addon',
      entity: 'api:addon-attachment',
      addonId: ADDON_IDS['api-addon-attachment-create'],
      replayKey: 'd244009a-670f-4340-88e9-789a4f9002d5',
    });
  });

  it('ignores other entities and refuses payloads without the fields it needs', () => {
    const release = exampleJson('api-addon-create');
    release['webhook_metadata']['event']['include'] = 'api:release';
    release['resource'] = 'release';
    expect(parseWebhookEvent(release)).toMatchObject({ kind: 'ignored', entity: 'api:release' });

    const cases: Array<[string, (e: Record<string, any>) => void, RegExp]> = [
      ['no metadata', (e) => delete e['webhook_metadata'], /delivery\.id/],
      ['empty delivery id', (e) => (e['webhook_metadata']['delivery']['id'] = ''), /delivery\.id/],
      ['numeric delivery id', (e) => (e['webhook_metadata']['delivery']['id'] = 42), /delivery\.id/],
      ['huge delivery id', (e) => (e['webhook_metadata']['delivery']['id'] = 'x'.repeat(1_000)), /delivery\.id/],
      ['no entity', (e) => { delete e['webhook_metadata']['event']; delete e['resource']; }, /include nor resource/],
      ['no data', (e) => delete e['data'], /data is missing/],
      ['add-on id not a uuid', (e) => (e['data']['id'] = '../../apps/x'), /data\.id/],
    ];
    for (const [reason, edit, problem] of cases) {
      const event = exampleJson('api-addon-create');
      edit(event);
      const parsed = parseWebhookEvent(event);
      expect(parsed.kind, reason).toBe('invalid');
      expect(parsed.kind === 'invalid' && parsed.problem, reason).toMatch(problem);
    }
    const attachment = exampleJson('api-addon-attachment-create');
    delete attachment['data']['addon'];
    expect(parseWebhookEvent(attachment)).toMatchObject({ kind: 'invalid', problem: expect.stringMatching(/data\.addon\.id/) });
    expect(parseWebhookEvent([1, 2])).toMatchObject({ kind: 'invalid' });
    expect(parseWebhookEvent(null)).toMatchObject({ kind: 'invalid' });
  });
});

// ---- the handler over real HTTP ----------------------------------------------------------------

interface Receiver {
  url: string;
  enqueued: string[];
  seen: MemoryReplayStore;
  logs: string[];
  close(): Promise<void>;
}

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** A node:http server with the handler mounted at POST /webhooks/heroku, as the lead will mount it. */
async function startReceiver(overrides: Partial<WebhookHandlerOptions> = {}): Promise<Receiver> {
  const enqueued: string[] = [];
  const logs: string[] = [];
  const seen = new MemoryReplayStore();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const handler = createWebhookHandler({
    secrets: [SECRET],
    seen,
    enqueue: (id) => enqueued.push(id),
    logger: pino({ level: 'debug' }, sink),
    ...overrides,
  });
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/webhooks/heroku') {
      res.writeHead(404).end();
      return;
    }
    handler(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/webhooks/heroku`,
    enqueued,
    seen,
    logs,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  receivers.push(receiver);
  return receiver;
}

async function deliver(url: string, body: Buffer | string, signature: string | null): Promise<{ status: number; body: any; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Heroku-Webhooks' };
  if (signature !== null) headers['Heroku-Webhook-Hmac-SHA256'] = signature;
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text };
}

const signed = (url: string, body: Buffer | string, secret = SECRET) => deliver(url, body, signHerokuWebhook(body, secret));

/**
 * A request through node:http whose body the test controls: `chunks` are written one by one and
 * the request is ended only if `end` is set. Resolves with the answer as soon as it arrives.
 */
function rawPost(
  url: string,
  headers: Record<string, string | number>,
  chunks: Buffer[],
  end: boolean,
): Promise<{ status: number; body: string; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers['connection'] });
        req.destroy();
      });
    });
    // Writing into a connection the server has closed fails; only an error before the answer counts.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.flushHeaders();
    for (const chunk of chunks) req.write(chunk);
    if (end) req.end();
  });
}

describe('createWebhookHandler over HTTP', () => {
  it('answers 202 queued for each signed example and enqueues the add-on id', async () => {
    const r = await startReceiver();
    for (const [name, addonId] of Object.entries(ADDON_IDS)) {
      const res = await signed(r.url, example(name));
      expect(res.status, name).toBe(202);
      expect(res.body).toEqual({ status: 'queued' });
      expect(r.enqueued.at(-1), name).toBe(addonId);
    }
    expect(r.enqueued).toEqual(Object.values(ADDON_IDS));
  });

  it('ignores a replayed delivery (200 duplicate) and enqueues it once', async () => {
    const r = await startReceiver();
    const body = example('api-addon-attachment-create');
    expect((await signed(r.url, body)).status).toBe(202);
    const again = await signed(r.url, body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ status: 'duplicate' });
    // A retry of the same delivery (new attempt id) is the same delivery.
    const retry = variant('api-addon-attachment-create', (e) => (e['webhook_metadata']['attempt']['id'] = '11111111-2222-4333-8444-555555555555'));
    expect((await signed(r.url, retry)).body).toEqual({ status: 'duplicate' });
    expect(r.enqueued).toEqual([ADDON_IDS['api-addon-attachment-create']]);
  });

  it('refuses a tampered body with 401, enqueues nothing and remembers nothing', async () => {
    const r = await startReceiver();
    const body = example('api-addon-create');
    const signature = signHerokuWebhook(body, SECRET);
    const tampered = Buffer.from(body.toString('utf8').replace(ADDON_IDS['api-addon-create']!, '00000000-0000-4000-8000-000000000000'));
    const res = await deliver(r.url, tampered, signature);
    expect(res.status).toBe(401);
    expect(r.enqueued).toEqual([]);
    expect(r.seen.size).toBe(0);
    // The genuine delivery still goes through afterwards.
    expect((await deliver(r.url, body, signature)).status).toBe(202);
  });

  it('refuses a wrong secret and a missing signature with the same 401, naming no secret', async () => {
    const r = await startReceiver({ secrets: [SECRET, OLD_SECRET] });
    const body = example('api-addon-update');
    const wrong = await signed(r.url, body, 'not-the-secret');
    const missing = await deliver(r.url, body, null);
    const garbage = await deliver(r.url, body, 'AAAA');
    for (const res of [wrong, missing, garbage]) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'missing or invalid Heroku-Webhook-Hmac-SHA256 signature' });
    }
    expect(r.enqueued).toEqual([]);
  });

  it('accepts the previous secret during a rotation, and the new one', async () => {
    const r = await startReceiver({ secrets: [SECRET, OLD_SECRET] });
    expect((await signed(r.url, example('api-addon-create'), OLD_SECRET)).status).toBe(202);
    expect((await signed(r.url, example('api-addon-update'), SECRET)).status).toBe(202);
    expect(r.enqueued).toEqual([ADDON_IDS['api-addon-create'], ADDON_IDS['api-addon-update']]);
  });

  it('answers 413 to a signed example over the size limit, and takes a body exactly at the limit', async () => {
    const body = example('api-addon-create');
    const small = await startReceiver({ maxBodyBytes: body.length - 1 });
    const res = await signed(small.url, body);
    expect(res.status).toBe(413);
    expect(small.enqueued).toEqual([]);
    const exact = await startReceiver({ maxBodyBytes: body.length });
    expect((await signed(exact.url, body)).status).toBe(202);
  });

  it('answers 413 from Content-Length alone, before any of the body is sent (default limit 1 MiB)', async () => {
    const r = await startReceiver();
    const answer = await rawPost(
      r.url,
      { 'content-type': 'application/json', 'content-length': 1024 * 1024 + 1, 'heroku-webhook-hmac-sha256': signHerokuWebhook('x', SECRET) },
      [],
      false,
    );
    expect(answer.status).toBe(413);
    expect(answer.connection).toBe('close');
    // At the limit it waits for the body instead (and gets it).
    const body = Buffer.alloc(1024 * 1024, 0x20);
    const atLimit = await rawPost(r.url, { 'content-length': body.length, 'heroku-webhook-hmac-sha256': signHerokuWebhook(body, SECRET) }, [body], true);
    expect(atLimit.status).toBe(400); // all spaces: signed, but not JSON
  });

  it('stops reading a chunked body as soon as it passes the limit', async () => {
    const r = await startReceiver({ maxBodyBytes: 1_000 });
    // Two 800-byte chunks and no end: the answer must come without the request ever finishing.
    const answer = await rawPost(
      r.url,
      { 'transfer-encoding': 'chunked', 'heroku-webhook-hmac-sha256': signHerokuWebhook('x', SECRET) },
      [Buffer.alloc(800, 0x7b), Buffer.alloc(800, 0x7b)],
      false,
    );
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ error: 'body larger than 1000 bytes' });
    expect(r.enqueued).toEqual([]);
  });

  it('answers 408 when the body does not arrive in time', async () => {
    const r = await startReceiver({ readTimeoutMs: 100 });
    const answer = await rawPost(
      r.url,
      { 'content-length': 500, 'heroku-webhook-hmac-sha256': signHerokuWebhook('x', SECRET) },
      [Buffer.from('{"half":')],
      false,
    );
    expect(answer.status).toBe(408);
  });

  it('answers 400 to signed malformed JSON and to payloads without the fields needed', async () => {
    const r = await startReceiver();
    const truncated = example('api-addon-create').subarray(0, 200);
    const res = await signed(r.url, truncated);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'body is not valid JSON' });

    const noDelivery = variant('api-addon-create', (e) => delete e['webhook_metadata']['delivery']);
    expect((await signed(r.url, noDelivery)).status).toBe(400);
    const noAddon = variant('api-addon-attachment-destroy', (e) => delete e['data']['addon']);
    const noAddonRes = await signed(r.url, noAddon);
    expect(noAddonRes.status).toBe(400);
    expect(noAddonRes.body.error).toMatch(/data\.addon\.id/);
    expect(r.enqueued).toEqual([]);
    expect(r.seen.size).toBe(0);
  });

  it('answers 200 ignored to signed events of other entities', async () => {
    const r = await startReceiver();
    const release = variant('api-addon-update', (e) => {
      e['resource'] = 'release';
      e['webhook_metadata']['event']['include'] = 'api:release';
      e['data'] = { id: '01234567-89ab-cdef-0123-456789abcdef', version: 12 };
    });
    const res = await signed(r.url, release);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ignored' });
    expect(r.enqueued).toEqual([]);
  });

  it('answers 405 to anything but POST', async () => {
    const r = await startReceiver();
    const res = await fetch(r.url);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('answers 503 when the queue refuses, and lets the redelivery through', async () => {
    let refuse = true;
    const enqueued: string[] = [];
    const r = await startReceiver({
      enqueue: (id) => {
        if (refuse) throw new Error('work queue is shutting down');
        enqueued.push(id);
      },
    });
    const body = example('api-addon-destroy');
    expect((await signed(r.url, body)).status).toBe(503);
    refuse = false;
    expect((await signed(r.url, body)).status).toBe(202);
    expect(enqueued).toEqual([ADDON_IDS['api-addon-destroy']]);
  });

  it('never logs the secret, the signature or the body', async () => {
    const r = await startReceiver({ secrets: [SECRET, OLD_SECRET] });
    const body = example('api-addon-create');
    const signature = signHerokuWebhook(body, SECRET);
    await deliver(r.url, body, signature); // queued
    await deliver(r.url, body, signature); // duplicate
    await signed(r.url, body, 'wrong'); // 401
    await deliver(r.url, Buffer.from('{"no":'), signHerokuWebhook('{"no":', SECRET)); // 400
    const logs = r.logs.join('');
    expect(logs).toContain('webhook-queued');
    expect(logs).toContain('webhook-bad-signature');
    for (const secret of [SECRET, OLD_SECRET, signature, signHerokuWebhook(body, 'wrong'), 'user-0043@example.com']) {
      expect(logs).not.toContain(secret);
    }
  });

  it('refuses to start without a usable secret', () => {
    const base = { seen: new MemoryReplayStore(), enqueue: () => {} };
    expect(() => createWebhookHandler({ ...base, secrets: [] })).toThrow(/secret/);
    expect(() => createWebhookHandler({ ...base, secrets: [''] })).toThrow(/secret/);
  });
});

describe('webhooks into the work queue', () => {
  it('a storm of 500 deliveries for one add-on causes one reconcile', async () => {
    const clock = new ManualClock();
    const reconciled: string[] = [];
    const queue = new WorkQueue({
      handler: async (key) => {
        reconciled.push(key);
        return 'done';
      },
      rateLimit: { qps: Infinity, burst: 1 },
      clock,
    });
    // The wiring proposed for the controller: a short coalescing delay, so the create, attach and
    // provisioned events of one `addons:create` fold into one reconcile.
    const r = await startReceiver({ enqueue: (id) => queue.addAfter(id, 1_000) });
    const addonId = ADDON_IDS['api-addon-update']!;
    const statuses: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          const n = batch * 50 + i;
          const body = variant('api-addon-update', (e) => {
            e['webhook_metadata']['delivery']['id'] = `d244009a-670f-4340-88e9-${String(n).padStart(12, '0')}`;
            e['webhook_metadata']['event']['id'] = `f59c72bf-9113-4034-8b9f-${String(n).padStart(12, '0')}`;
          });
          return signed(r.url, body);
        }),
      );
      statuses.push(...results.map((x) => x.status));
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(500);
    expect(r.enqueued).toEqual([]); // the queue got them, not the default recorder
    await clock.advance(1_000);
    expect(reconciled).toEqual([addonId]);
    await clock.advance(60_000);
    expect(reconciled).toEqual([addonId]);
    await queue.shutDown();
  });
});
