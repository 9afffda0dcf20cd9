import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { PortInUseError } from '../../emulator/errors.ts';
import { checkEnvelope, type Envelope } from '../../functions/shared/envelope.ts';
import { InvalidEnvelopeError } from '../../functions/shared/errors.ts';
import { bundleConsole } from './bundle.ts';

/** Options of {@link startConsole}. */
export interface ConsoleOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /** The stage URL the page connects to (given to it in `/config.json`). */
  readonly webSocketUrl: string;
  /** Publishes an envelope v1; an error whose `code` is INVALID_MESSAGE/INVALID_ENVELOPE becomes a 400. */
  readonly publish: (envelope: Envelope) => Promise<{ messageId: string }>;
  /** Signs a token for a user id (the local stack's HS256 tokens). */
  readonly mintToken: (userId: string) => Promise<string>;
  readonly log?: (line: string) => void;
}

/** A running console. */
export interface RunningConsole {
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Most bytes a request body may have (SNS takes 256 KB per message). */
const MAX_BODY_BYTES = 256 * 1024;

/** User ids the console signs tokens for: what fits in a DynamoDB key and a URL without surprises. */
const USER_ID = /^[A-Za-z0-9._@+-]{1,128}$/;

/** A request the console refuses, with the status and message the caller sees. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Serves the message-center page (bundled from web/ and client/ at start, in memory), its
 * configuration, and two local-only endpoints: a token for any user id, and publishing a test message.
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const log = options.log ?? (() => {});
  const [bundles, html, css] = await Promise.all([
    bundleConsole(),
    readFile(fileURLToPath(new URL('../../web/index.html', import.meta.url)), 'utf8'),
    readFile(fileURLToPath(new URL('../../web/styles.css', import.meta.url)), 'utf8'),
  ]);
  const socketOrigin = new URL(options.webSocketUrl).origin.replace(/^http/, 'ws');
  const headers = {
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': `default-src 'self'; connect-src 'self' ${socketOrigin}; img-src 'self' data:; frame-ancestors 'none'`,
  };
  const assets: Record<string, { type: string; body: string }> = {
    '/': { type: 'text/html; charset=utf-8', body: html },
    '/index.html': { type: 'text/html; charset=utf-8', body: html },
    '/styles.css': { type: 'text/css; charset=utf-8', body: css },
    '/app.js': { type: 'text/javascript; charset=utf-8', body: bundles.appJs },
    '/sdk/pushline-client.js': { type: 'text/javascript; charset=utf-8', body: bundles.sdkJs },
    '/config.json': {
      type: 'application/json; charset=utf-8',
      body: JSON.stringify({ webSocketUrl: options.webSocketUrl }),
    },
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://console').pathname;
    const asset = assets[path];
    if (asset) {
      if (request.method !== 'GET' && request.method !== 'HEAD')
        throw new HttpError(405, 'METHOD', 'Use GET.');
      response.writeHead(200, { ...headers, 'Content-Type': asset.type });
      response.end(request.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (path === '/api/token' || path === '/api/publish') {
      if (request.method !== 'POST') throw new HttpError(405, 'METHOD', 'Use POST.');
      const body = await readJson(request);
      const answer = path === '/api/token' ? await token(body, options) : await publish(body, options, log);
      sendJson(response, path === '/api/publish' ? 202 : 200, answer);
      return;
    }
    throw new HttpError(404, 'NOT_FOUND', `Nothing at ${path}.`);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (error instanceof HttpError) {
        sendJson(response, error.status, { error: { code: error.code, message: error.message } });
        return;
      }
      log(`console: ${request.method} ${request.url} failed: ${(error as Error).message}`);
      sendJson(response, 500, { error: { code: 'INTERNAL', message: 'The console failed; see its log.' } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    const host = options.host ?? '127.0.0.1';
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new PortInUseError(host, options.port, 'Message center', { cause: error })
          : error,
      ),
    );
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log(`console: message center at ${url}`);
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function token(body: unknown, options: ConsoleOptions): Promise<{ token: string; userId: string }> {
  const userId = field(body, 'userId');
  if (typeof userId !== 'string' || !USER_ID.test(userId.trim())) {
    throw new HttpError(400, 'INVALID_USER', 'userId must be 1 to 128 letters, digits or . _ @ + -');
  }
  return { token: await options.mintToken(userId.trim()), userId: userId.trim() };
}

async function publish(
  body: unknown,
  options: ConsoleOptions,
  log: (line: string) => void,
): Promise<{ messageId: string }> {
  const envelope = toEnvelope(body);
  try {
    const result = await options.publish(envelope);
    const users = 'users' in envelope.to ? envelope.to.users.join(', ') : '';
    log(`console: published ${result.messageId} (${envelope.type}) to ${users}`);
    return { messageId: result.messageId };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'INVALID_MESSAGE' || code === 'INVALID_ENVELOPE') {
      throw new HttpError(400, String(code), (error as Error).message);
    }
    log(`console: publish failed: ${(error as Error).message}`);
    throw new HttpError(502, 'PUBLISH_FAILED', `Publishing failed: ${(error as Error).message}`);
  }
}

/**
 * Turns the publish form into envelope v1: `to` may be a list, a comma- or space-separated string,
 * or `{users}`; empty optional fields are left out. Every other check is the envelope's own
 * (`checkEnvelope`), so the form accepts exactly what the deliver function does.
 */
export function toEnvelope(body: unknown): Envelope {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'INVALID_REQUEST', 'The body must be a JSON object.');
  }
  const { to, users: usersField, ...rest } = body as Record<string, unknown>;
  const rawTo = to ?? usersField;
  const list =
    typeof rawTo === 'string'
      ? rawTo.split(/[\s,]+/)
      : Array.isArray(rawTo)
        ? rawTo
        : typeof rawTo === 'object' && rawTo !== null && Array.isArray((rawTo as { users?: unknown }).users)
          ? (rawTo as { users: unknown[] }).users
          : [];
  const users = [
    ...new Set(list.map((user) => (typeof user === 'string' ? user.trim() : '')).filter(Boolean)),
  ];
  if (users.length === 0) throw new HttpError(400, 'INVALID_REQUEST', '`to` must name at least one user id.');
  const badUser = users.find((user) => !USER_ID.test(user));
  if (badUser !== undefined)
    throw new HttpError(400, 'INVALID_REQUEST', `"${badUser}" is not a valid user id.`);

  const candidate: Record<string, unknown> = { v: 1, to: { users } };
  for (const [name, value] of Object.entries(rest)) {
    // A form sends empty text fields; they mean "not given".
    if (value === '') continue;
    candidate[name] = typeof value === 'string' && name !== 'data' ? value.trim() : value;
  }
  try {
    return checkEnvelope(candidate);
  } catch (error) {
    if (error instanceof InvalidEnvelopeError) throw new HttpError(400, 'INVALID_REQUEST', error.reason);
    throw error;
  }
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  // A JSON content type cannot be sent cross-site without a CORS preflight, which is never granted.
  const type = String(request.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(type)) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new HttpError(413, 'TOO_LARGE', `The body is over ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'INVALID_JSON', 'The body is not valid JSON.');
  }
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  response.end(JSON.stringify(body));
}
