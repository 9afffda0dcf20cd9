/**
 * The management API of a local WebSocket API (`@connections`): POST, GET and DELETE on
 * `/{stage}/@connections/{id}`, with AWS's status codes and error names, so the real
 * ApiGatewayManagementApiClient works against it. It reaches connections only through a
 * {@link ConnectionRegistry}, which the WebSocket plane (gateway.ts) provides.
 */

import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Injected faults of the management API, to exercise callers' error handling. */
export interface ManagementApiFaults {
  /** Added before every management API answer. @default 0 */
  readonly latencyMs?: number;
  /** Probability (0..1) that a management API call fails with `errorStatus`. @default 0 */
  readonly errorRate?: number;
  /** 429 answers LimitExceededException, 500 InternalServerErrorException. @default 429 */
  readonly errorStatus?: 429 | 500;
}

/** An open connection as `connections()` lists it. */
export interface ConnectionInfo {
  readonly id: string;
  /** Epoch milliseconds. */
  readonly connectedAt: number;
  /** Epoch milliseconds of the last frame from the client (the handshake at first). */
  readonly lastActiveAt: number;
  readonly sourceIp: string;
  readonly userAgent: string | null;
  /** The authorizer's `principalId`, when the API has an authorizer. */
  readonly principal: string | undefined;
}

/**
 * The connections the management API acts on. Each method sees open connections only: one that
 * is unknown, still in its `$connect` or closing answers as gone.
 */
export interface ConnectionRegistry {
  /** The open connection's details, or undefined. */
  info(connectionId: string): ConnectionInfo | undefined;
  /** Sends a data frame to the open connection; false when it is not open. */
  post(connectionId: string, data: string | Buffer, binary: boolean): boolean;
  /** Closes the open connection as DELETE does (1000); false when it is not open. */
  disconnect(connectionId: string): boolean;
}

/** Settings of {@link ManagementApi}. */
export interface ManagementApiOptions {
  readonly stage: string;
  /** Largest post; bigger ones get 413. */
  readonly maxMessageBytes: number;
  readonly connections: ConnectionRegistry;
  /** Read on every request, so faults can change while the gateway runs. */
  readonly faults: () => ManagementApiFaults;
  readonly log: (line: string) => void;
}

/** Answers the HTTP (non-upgrade) requests of a gateway's port. */
export class ManagementApi {
  readonly #options: ManagementApiOptions;

  constructor(options: ManagementApiOptions) {
    this.#options = options;
  }

  /** Serves one request; never rejects (an unexpected error answers 500). */
  async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.#handle(req, res);
    } catch (error) {
      this.#options.log(`[gateway] management API error: ${describe(error)}`);
      if (!res.headersSent) sendError(res, 500, 'InternalServerErrorException', 'Internal server error');
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { stage, maxMessageBytes, connections } = this.#options;
    const url = new URL(req.url ?? '/', 'http://gateway');
    const segments = url.pathname.split('/').slice(1).map(safeDecode);
    const { body, tooLarge } = await readBody(req, maxMessageBytes);
    if (url.pathname === `/${stage}` || url.pathname === `/${stage}/`) {
      sendError(res, 426, 'UpgradeRequired', 'This endpoint only accepts WebSocket upgrades');
      return;
    }
    const [requestStage, collection, connectionId] = segments;
    if (segments.length !== 3 || requestStage !== stage || collection !== '@connections' || !connectionId) {
      sendError(res, 403, 'ForbiddenException', 'Forbidden');
      return;
    }

    const faults = this.#options.faults();
    if ((faults.latencyMs ?? 0) > 0) await delay(faults.latencyMs ?? 0);
    if ((faults.errorRate ?? 0) > 0 && Math.random() < (faults.errorRate ?? 0)) {
      if ((faults.errorStatus ?? 429) === 500)
        sendError(res, 500, 'InternalServerErrorException', 'Internal server error');
      else sendError(res, 429, 'LimitExceededException', 'Too Many Requests');
      return;
    }

    switch (req.method) {
      case 'POST': {
        if (tooLarge) {
          sendError(res, 413, 'PayloadTooLargeException', `Message exceeds ${maxMessageBytes} bytes`);
          return;
        }
        // Text frame for UTF-8 data (what API Gateway sends); bytes that are not UTF-8 go as binary.
        const text = isUtf8(body);
        if (!connections.post(connectionId, text ? body.toString('utf8') : body, !text)) {
          sendError(res, 410, 'GoneException', null);
          return;
        }
        sendJson(res, 200, undefined);
        return;
      }
      case 'GET': {
        const info = connections.info(connectionId);
        if (info === undefined) {
          sendError(res, 410, 'GoneException', null);
          return;
        }
        sendJson(res, 200, {
          connectedAt: new Date(info.connectedAt).toISOString(),
          identity: { sourceIp: info.sourceIp, userAgent: info.userAgent },
          lastActiveAt: new Date(info.lastActiveAt).toISOString(),
        });
        return;
      }
      case 'DELETE': {
        if (!connections.disconnect(connectionId)) {
          sendError(res, 410, 'GoneException', null);
          return;
        }
        res.writeHead(204, { 'x-amzn-RequestId': randomUUID() });
        res.end();
        return;
      }
      default:
        sendError(res, 403, 'ForbiddenException', 'Forbidden');
    }
  }
}

function sendError(res: ServerResponse, statusCode: number, errorType: string, message: string | null): void {
  res.writeHead(statusCode, {
    'content-type': 'application/json',
    // The SDK names errors after this header (restJson1), e.g. GoneException.
    'x-amzn-ErrorType': errorType,
    'x-amzn-RequestId': randomUUID(),
  });
  res.end(JSON.stringify({ message }));
}

function sendJson(res: ServerResponse, statusCode: number, body: unknown): void {
  res.writeHead(statusCode, { 'content-type': 'application/json', 'x-amzn-RequestId': randomUUID() });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

/** Reads a request body, keeping at most `limit` bytes (the rest is drained and dropped). */
function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), tooLarge: size > limit }));
    req.on('error', reject);
  });
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
