/**
 * The management API of a local WebSocket API (`@connections`): POST, GET and DELETE on
 * `/{stage}/@connections/{id}`, with AWS's status codes and error names, so the real
 * ApiGatewayManagementApiClient works against it. It reaches connections only through a
 * {@link ConnectionRegistry}, which the WebSocket plane (gateway.ts) provides. It also serves the
 * local-only control endpoint of simulated connections, `/@local/simulated-connections`
 * (simulated-connections.ts), outside every stage's path.
 */

import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AccessEvaluator, denialMessage } from '../access-policy.ts';
import { SimulatedConnectionsError } from './errors.ts';
import type { SimulatedConnections } from './simulated-connections.ts';

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
 * The connections the management API acts on. Each method sees open connections (and simulated
 * ones) only: one that is unknown, still in its `$connect` or closing answers as gone.
 */
export interface ConnectionRegistry {
  /** The open connection's details, or undefined. */
  info(connectionId: string): ConnectionInfo | undefined;
  /** Sends the bytes as a data frame (text unless `binary`) to the open connection; false when it is not open. */
  post(connectionId: string, data: Buffer, binary: boolean): boolean;
  /** Closes the open connection as DELETE does (1000); false when it is not open. */
  disconnect(connectionId: string): boolean;
}

/** Settings of {@link ManagementApi}. */
export interface ManagementApiOptions {
  readonly stage: string;
  /** Largest post; bigger ones get 413. */
  readonly maxMessageBytes: number;
  readonly connections: ConnectionRegistry;
  /** What `/@local/simulated-connections` creates, reads and clears. */
  readonly simulated: SimulatedConnections;
  /** Read on every request, so faults can change while the gateway runs. */
  readonly faults: () => ManagementApiFaults;
  readonly log: (line: string) => void;
  /**
   * Strict IAM: callers it names need `execute-api:ManageConnections` on
   * `{connectionArnPrefix}/{METHOD}/@connections/{id}`, else 403 AccessDeniedException.
   * @default - nothing is checked
   */
  readonly access?: { readonly evaluator: AccessEvaluator; readonly connectionArnPrefix: string };
}

/** Where a request goes, from its path alone. */
type Target =
  | { readonly kind: 'connection'; readonly connectionId: string }
  | { readonly kind: 'stage' }
  | { readonly kind: 'forbidden' }
  | { readonly kind: 'simulated'; readonly withCounts: boolean };

const EMPTY = Buffer.alloc(0);
/** The local-only control endpoint (`@` cannot start a stage name, so no stage path is taken). */
const SIMULATED_PATH = '/@local/simulated-connections';
/** Largest body of a control request: 200,000 ids of 128 characters fit. */
const CONTROL_BODY_LIMIT = 32 * 1024 * 1024;

/** Answers the HTTP (non-upgrade) requests of a gateway's port. */
export class ManagementApi {
  readonly #options: ManagementApiOptions;
  /**
   * `/{stage}/@connections/{id}` as the SDK sends it (id URL-encoded: letters, digits, `-_=%`),
   * matched without building a URL. Any other form (query, dot segments, encoded stage…) takes
   * the general path, which answers it as before.
   */
  readonly #connectionPath: RegExp;

  constructor(options: ManagementApiOptions) {
    this.#options = options;
    this.#connectionPath = new RegExp(`^/${options.stage}/(?:@|%40)connections/([A-Za-z0-9_=%-]+)$`);
  }

  /** Serves one request; never throws (an unexpected error answers 500). */
  onRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      const target = this.#target(req.url ?? '/');
      readBody(
        req,
        target.kind === 'simulated' ? CONTROL_BODY_LIMIT : this.#options.maxMessageBytes,
        (body, tooLarge) => this.#guarded(res, () => this.#answer(req, res, target, body, tooLarge)),
        (error) => this.#fail(res, error),
      );
    } catch (error) {
      this.#fail(res, error);
    }
  }

  #target(rawUrl: string): Target {
    const fast = this.#connectionPath.exec(rawUrl);
    const segment = fast?.[1];
    if (segment !== undefined && !/^(?:%2e){1,2}$/i.test(segment)) {
      return { kind: 'connection', connectionId: segment.includes('%') ? safeDecode(segment) : segment };
    }
    const { stage } = this.#options;
    const url = new URL(rawUrl, 'http://gateway');
    if (url.pathname === `/${stage}` || url.pathname === `/${stage}/`) return { kind: 'stage' };
    if (url.pathname === SIMULATED_PATH) {
      return { kind: 'simulated', withCounts: url.searchParams.get('counts') === 'true' };
    }
    const segments = url.pathname.split('/').slice(1).map(safeDecode);
    const [requestStage, collection, connectionId] = segments;
    if (segments.length !== 3 || requestStage !== stage || collection !== '@connections' || !connectionId) {
      return { kind: 'forbidden' };
    }
    return { kind: 'connection', connectionId };
  }

  #answer(req: IncomingMessage, res: ServerResponse, target: Target, body: Buffer, tooLarge: boolean): void {
    if (target.kind === 'stage') {
      sendError(res, 426, 'UpgradeRequired', 'This endpoint only accepts WebSocket upgrades');
      return;
    }
    if (target.kind === 'forbidden') {
      sendError(res, 403, 'ForbiddenException', 'Forbidden');
      return;
    }
    if (target.kind === 'simulated') {
      // Not an AWS call: no injected faults.
      this.#control(req, res, target.withCounts, body, tooLarge);
      return;
    }
    const access = this.#options.access;
    const caller = access?.evaluator.callerOf(req.headers.authorization);
    if (access !== undefined && caller !== undefined) {
      const resource = `${access.connectionArnPrefix}/${req.method ?? 'GET'}/@connections/${target.connectionId}`;
      const denial = access.evaluator.check(caller, [{ action: 'execute-api:ManageConnections', resource }]);
      if (denial !== undefined) {
        sendError(res, 403, 'AccessDeniedException', denialMessage(denial));
        return;
      }
    }
    const faults = this.#options.faults();
    const latencyMs = faults.latencyMs ?? 0;
    if (latencyMs > 0) {
      const act = () => this.#act(req, res, faults, target.connectionId, body, tooLarge);
      setTimeout(() => this.#guarded(res, act), latencyMs);
      return;
    }
    this.#act(req, res, faults, target.connectionId, body, tooLarge);
  }

  #act(
    req: IncomingMessage,
    res: ServerResponse,
    faults: ManagementApiFaults,
    connectionId: string,
    body: Buffer,
    tooLarge: boolean,
  ): void {
    const { maxMessageBytes, connections } = this.#options;
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
        // The bytes go to the socket as they came: no decoding to a string and encoding back.
        if (!connections.post(connectionId, body, !isUtf8(body))) {
          sendError(res, 410, 'GoneException', null);
          return;
        }
        send(res, 200, undefined, '');
        return;
      }
      case 'GET': {
        const info = connections.info(connectionId);
        if (info === undefined) {
          sendError(res, 410, 'GoneException', null);
          return;
        }
        send(
          res,
          200,
          undefined,
          JSON.stringify({
            connectedAt: new Date(info.connectedAt).toISOString(),
            identity: { sourceIp: info.sourceIp, userAgent: info.userAgent },
            lastActiveAt: new Date(info.lastActiveAt).toISOString(),
          }),
        );
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

  /**
   * `/@local/simulated-connections`: POST `{"count": N}` or `{"ids": [...]}` registers simulated
   * connections and answers their ids, GET answers their stats (`?counts=true` adds the posts per
   * id), DELETE removes them all.
   */
  #control(req: IncomingMessage, res: ServerResponse, withCounts: boolean, body: Buffer, tooLarge: boolean) {
    const { simulated } = this.#options;
    switch (req.method) {
      case 'POST': {
        if (tooLarge) {
          sendLocal(res, 413, { message: `A control request is at most ${CONTROL_BODY_LIMIT} bytes` });
          return;
        }
        let request: unknown;
        try {
          request = JSON.parse(body.toString('utf8'));
        } catch {
          request = undefined;
        }
        const { count, ids } = (typeof request === 'object' && request !== null ? request : {}) as {
          count?: unknown;
          ids?: unknown;
        };
        try {
          if (typeof count === 'number' && ids === undefined) {
            sendLocal(res, 200, { ids: simulated.create(count) });
          } else if (Array.isArray(ids) && count === undefined) {
            sendLocal(res, 200, { ids: simulated.add(ids) });
          } else {
            sendLocal(res, 400, { message: 'The body must be JSON: {"count": N} or {"ids": ["…", …]}.' });
          }
        } catch (error) {
          if (!(error instanceof SimulatedConnectionsError)) throw error;
          sendLocal(res, 400, { message: error.message });
        }
        return;
      }
      case 'GET':
        sendLocal(res, 200, simulated.stats(withCounts));
        return;
      case 'DELETE':
        simulated.clear();
        res.writeHead(204);
        res.end();
        return;
      default:
        res.writeHead(405, { allow: 'GET, POST, DELETE' });
        res.end();
    }
  }

  /** Runs a step of an answer that may come after onRequest returned; a throw answers 500. */
  #guarded(res: ServerResponse, step: () => void): void {
    try {
      step();
    } catch (error) {
      this.#fail(res, error);
    }
  }

  #fail(res: ServerResponse, error: unknown): void {
    this.#options.log(`[gateway] management API error: ${describe(error)}`);
    if (!res.headersSent) sendError(res, 500, 'InternalServerErrorException', 'Internal server error');
  }
}

function sendError(res: ServerResponse, statusCode: number, errorType: string, message: string | null): void {
  // The SDK names errors after x-amzn-ErrorType (restJson1), e.g. GoneException.
  send(res, statusCode, errorType, JSON.stringify({ message }));
}

/** One write: status, headers with the body's length (no chunked framing), body. */
function send(res: ServerResponse, statusCode: number, errorType: string | undefined, text: string): void {
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  if (errorType !== undefined) headers['x-amzn-ErrorType'] = errorType;
  headers['x-amzn-RequestId'] = randomUUID();
  res.writeHead(statusCode, headers);
  res.end(text);
}

/** An answer of the local control endpoint: JSON, no AWS headers. */
function sendLocal(res: ServerResponse, statusCode: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Reads a request body, keeping at most `limit` bytes (the rest is drained and dropped). Callbacks
 * rather than a promise: this runs once per post.
 */
function readBody(
  req: IncomingMessage,
  limit: number,
  done: (body: Buffer, tooLarge: boolean) => void,
  failed: (error: Error) => void,
): void {
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) return;
    if (first === undefined) first = chunk;
    else if (chunks === undefined) chunks = [first, chunk];
    else chunks.push(chunk);
  });
  req.on('end', () => done(chunks === undefined ? (first ?? EMPTY) : Buffer.concat(chunks), size > limit));
  req.on('error', failed);
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
