/**
 * A local API Gateway WebSocket API: one HTTP server serving the WebSocket endpoint on `/{stage}`
 * and the management API (`@connections`, management-api.ts) on `/{stage}/@connections/{id}`. This
 * file is the WebSocket plane: it runs the REQUEST authorizer and `$connect` before completing the
 * handshake, routes messages to Lambda proxy integrations through an `Invoke` function, and
 * enforces API Gateway's limits. It knows nothing of the app whose handlers it runs.
 * Local only, it also holds simulated connections (simulated-connections.ts): ids that the
 * management API treats as open connections, counting posts instead of sending frames.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { AccessEvaluator } from '../access-policy.ts';
import {
  FunctionError,
  type Invoke,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type WebSocketApiSpec,
} from '../topology.ts';
import { hasIdentity, parseIdentitySources, readAuthorizerResult } from './authorizer.ts';
import { GatewayConfigError, PortInUseError } from './errors.ts';
import {
  authorizerEvent,
  type ConnectionContext,
  connectEvent,
  disconnectEvent,
  messageEvent,
  newGatewayId,
  requestParameters,
} from './events.ts';
import { watchFrameSizes } from './frame-sizes.ts';
import {
  type ConnectionInfo,
  type ConnectionRegistry,
  ManagementApi,
  type ManagementApiFaults,
} from './management-api.ts';
import { type RouteSelector, routeSelector } from './route-selection.ts';
import { type SimulatedConnectionStats, SimulatedConnections } from './simulated-connections.ts';

export type { ConnectionInfo } from './management-api.ts';
export type { SimulatedConnectionStats } from './simulated-connections.ts';

/**
 * Local only: connections that exist only as ids, for audiences too large for real sockets. The
 * management API answers posts to them 200 and counts them; GET answers their registration time;
 * DELETE removes one (no `$disconnect`: nothing ran `$connect`). Also served over HTTP at
 * `/@local/simulated-connections` (docs/local-runtime.md).
 */
export interface SimulatedConnectionsControl {
  /** Registers `count` new ids in API Gateway's form (at most 200,000 a call) and returns them. */
  create(count: number): string[];
  /** Registers the given ids (an id already registered keeps its count) and returns them. */
  add(ids: readonly string[]): string[];
  /** Totals and the histogram of posts per connection; `counts` (posts per id) when `withCounts`. */
  stats(withCounts?: boolean): SimulatedConnectionStats;
  /** Removes every simulated connection and resets the totals. */
  clear(): void;
}

/**
 * What API Gateway bills, counted since the gateway started: messages in 32 KB increments (each
 * started 32 KB of a message is one), both ways, and connection minutes.
 */
export interface GatewayStats {
  /** Management API posts answered 200, to open and to simulated connections. */
  readonly posts: number;
  /** Bytes of those posts. */
  readonly postedBytes: number;
  /** Billed messages of those posts: one per started 32 KB of each. */
  readonly billedPosts: number;
  /** Text messages received from clients on open connections. */
  readonly clientMessages: number;
  /** Billed messages of those: one per started 32 KB of each. */
  readonly billedClientMessages: number;
  /** Minutes real connections were open, those still open counted up to now (simulated ones not included). */
  readonly connectionMinutes: number;
}

/** API Gateway bills a message per started 32 KB. */
const BILLED_MESSAGE_BYTES = 32 * 1024;

/** API Gateway's limits; the defaults are AWS's, smaller values make tests fast. */
export interface GatewayLimits {
  /** Largest message in either direction; bigger client messages close the socket with 1009, bigger posts get 413. @default 131072 */
  readonly maxMessageBytes?: number;
  /**
   * Largest single frame from a client: a bigger one closes the socket with 1009, even when the
   * message fits (a longer message must come in several frames). Set it to `maxMessageBytes` for the
   * gateway of earlier releases, which took any frame of a message that fit. @default 32768
   */
  readonly maxFrameBytes?: number;
  /** No data frame in either direction for this long closes the connection with 1001. @default 600000 */
  readonly idleTimeoutMs?: number;
  /** A connection is closed with 1001 after this long, whatever its traffic. @default 7200000 */
  readonly maxConnectionMs?: number;
  /** An integration slower than this gets `Endpoint request timed out` (504 on `$connect`). @default 29000 */
  readonly integrationTimeoutMs?: number;
}

/** Injected faults: the management API's (latency, errors) and a held `$connect`. */
export interface GatewayFaults extends ManagementApiFaults {
  /**
   * After `$connect` accepted a connection (2xx, or the authorizer did when there is no `$connect`
   * route), wait this long before completing the handshake (101). Until then the connection is not open: the management API answers 410 GoneException for
   * it, as API Gateway does for a connection whose `$connect` has not finished. @default 0
   */
  readonly connectHoldMs?: number;
}

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  readonly api: WebSocketApiSpec;
  /** Runs the authorizer and route functions (e.g. `LambdaRuntime.invoke`). */
  readonly invoke: Invoke;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
  /** Region in ARNs. @default LOCAL_REGION */
  readonly region?: string;
  /** Account in ARNs. @default LOCAL_ACCOUNT */
  readonly accountId?: string;
  /** API id in events and ARNs. @default a stable 10-character id derived from the API name */
  readonly apiId?: string;
  readonly limits?: GatewayLimits;
  readonly faults?: GatewayFaults;
  /** Strict IAM: management API callers it names are authorized against their policies. @default - nothing is checked */
  readonly access?: AccessEvaluator;
  /** Receives the gateway's log lines. @default stdout */
  readonly log?: (line: string) => void;
}

/** A running gateway. */
export interface Gateway {
  /** WebSocket endpoint: `ws://host:port/{stage}`. */
  readonly url: string;
  /** Management API endpoint (`endpoint` of ApiGatewayManagementApiClient): `http://host:port/{stage}`. */
  readonly callbackUrl: string;
  readonly port: number;
  readonly apiId: string;
  /** Replaces the injected faults (pass `{}` to clear them). */
  setFaults(faults: GatewayFaults): void;
  /** Open connections (simulated ones are not among them). */
  connections(): ConnectionInfo[];
  /** Local only: simulated connections, see {@link SimulatedConnectionsControl}. */
  readonly simulated: SimulatedConnectionsControl;
  /** Billed messages and connection minutes so far. */
  stats(): GatewayStats;
  /** Closes every connection (each gets its `$disconnect`), then the server. */
  close(): Promise<void>;
}

interface CloseInfo {
  readonly statusCode: number;
  readonly reason: string;
}

interface Connection {
  readonly context: ConnectionContext;
  readonly ws: WebSocket;
  state: 'open' | 'closing' | 'closed';
  /** Epoch milliseconds the connection opened (the 101), for connection minutes. */
  readonly openedAt: number;
  lastActiveAt: number;
  /** Last data frame in either direction: what the idle timeout measures. */
  lastTrafficAt: number;
  /** Why the gateway closed it, or why ws failed it (oversize frame, bad UTF-8). */
  closeInfo: CloseInfo | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  maxTimer: NodeJS.Timeout | undefined;
}

const DEFAULT_LIMITS: Required<GatewayLimits> = {
  maxMessageBytes: 128 * 1024,
  maxFrameBytes: 32 * 1024,
  idleTimeoutMs: 600_000,
  maxConnectionMs: 7_200_000,
  integrationTimeoutMs: 29_000,
};
const GOING_AWAY: CloseInfo = { statusCode: 1001, reason: 'Going away' };
const TOO_BIG: CloseInfo = { statusCode: 1009, reason: 'Message too big' };
/** API Gateway takes no binary frames from clients; its documented answer is closing with 1003. */
const BINARY_REFUSED: CloseInfo = { statusCode: 1003, reason: 'Unsupported data' };
/** API Gateway's quota on the length, in characters, of a WebSocket API's URL (query included). */
const MAX_URL_CHARS = 4096;
/**
 * The most request-line and header bytes the local gateway reads (Node's default is 16 KB). AWS
 * documents no header limit for WebSocket APIs; this one is high enough that a long token in the
 * query string meets the URL quota (414) first, and a larger request gets 431 rather than a reset.
 */
const MAX_HEADER_BYTES = 64 * 1024;
/** How long close() waits for clients to answer the close handshake before cutting sockets. */
const CLOSE_GRACE_MS = 1_000;
/**
 * An idle keep-alive socket of the management API is closed after this long, but answers advertise
 * `Keep-Alive: timeout=5` (Node floors it to whole seconds). Clients that take the hint (Node's
 * Agent, so the SDK; undici) close theirs first, instead of both ends expiring together and a post
 * sent at that moment failing with ECONNRESET.
 */
const KEEP_ALIVE_TIMEOUT_MS = 5_900;

class IntegrationTimeoutError extends Error {
  override readonly name = 'IntegrationTimeoutError';
  readonly code = 'INTEGRATION_TIMEOUT';
}

/** Starts a gateway for one WebSocket API and resolves once it listens. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const server = new GatewayServer(options);
  return server.listen();
}

class GatewayServer {
  readonly #api: WebSocketApiSpec;
  readonly #invoke: Invoke;
  readonly #host: string;
  readonly #requestedPort: number;
  readonly #apiId: string;
  readonly #methodArn: string;
  readonly #region: string;
  /** Length of `wss://{apiId}.execute-api.{region}.amazonaws.com`, the API's URL on AWS before the path. */
  readonly #awsHostLength: number;
  readonly #limits: Required<GatewayLimits>;
  readonly #log: (line: string) => void;
  readonly #identitySources: ReturnType<typeof parseIdentitySources> | undefined;
  readonly #selectRoute: RouteSelector;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #connections = new Map<string, Connection>();
  readonly #handshakes = new Set<Duplex>();
  /** Subprotocol the `$connect` response chose, per upgrade request, for the 101 response. */
  readonly #protocols = new WeakMap<IncomingMessage, string>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #management: ManagementApi;
  readonly #simulated = new SimulatedConnections((id) => this.#connections.get(id)?.state === 'open');
  #faults: GatewayFaults;
  readonly #counts = {
    posts: 0,
    postedBytes: 0,
    billedPosts: 0,
    clientMessages: 0,
    billedClientMessages: 0,
    closedConnectionMs: 0,
  };
  #port = 0;
  #closing = false;

  constructor(options: GatewayOptions) {
    const { api } = options;
    if (!/^[A-Za-z0-9_-]+$/.test(api.stage)) {
      throw new GatewayConfigError(`Stage '${api.stage}' must be letters, digits, '-' or '_'.`);
    }
    this.#api = api;
    this.#invoke = options.invoke;
    this.#host = options.host ?? '127.0.0.1';
    this.#requestedPort = options.port ?? 0;
    this.#apiId = options.apiId ?? stableApiId(api.name);
    this.#region = options.region ?? LOCAL_REGION;
    this.#awsHostLength = `wss://${this.#apiId}.execute-api.${this.#region}.amazonaws.com`.length;
    this.#methodArn = `arn:aws:execute-api:${this.#region}:${options.accountId ?? LOCAL_ACCOUNT}:${this.#apiId}/${api.stage}/$connect`;
    this.#limits = { ...DEFAULT_LIMITS, ...definedOnly(options.limits ?? {}) };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!(Number.isFinite(value) && value > 0))
        throw new GatewayConfigError(`limits.${name} must be a positive number.`);
    }
    this.#faults = options.faults ?? {};
    this.#log = options.log ?? ((line) => process.stdout.write(`${line}\n`));
    this.#identitySources = api.authorizer === undefined ? undefined : parseIdentitySources(api.authorizer);
    this.#selectRoute = routeSelector(
      api.routeSelectionExpression ?? '$request.body.action',
      new Set(Object.keys(api.routes).filter((key) => key !== '$connect' && key !== '$disconnect')),
    );
    this.#management = new ManagementApi({
      stage: api.stage,
      maxMessageBytes: this.#limits.maxMessageBytes,
      connections: this.#registry(),
      simulated: this.#simulated,
      faults: () => this.#faults,
      log: this.#log,
      ...(options.access === undefined
        ? {}
        : {
            access: {
              evaluator: options.access,
              connectionArnPrefix: `arn:aws:execute-api:${this.#region}:${options.accountId ?? LOCAL_ACCOUNT}:${this.#apiId}/${api.stage}`,
            },
          }),
    });
    this.#http = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) =>
      this.#management.onRequest(req, res),
    );
    this.#http.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.#http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.#onUpgrade(req, socket, head);
    });
    // A request Node cannot parse gets a status, as a client expects of a gateway, not a reset.
    this.#http.on('clientError', (error: NodeJS.ErrnoException, socket) =>
      error.code === 'HPE_HEADER_OVERFLOW'
        ? refuse(socket, 431, { message: 'Request Header Fields Too Large' })
        : refuse(socket, 400, { message: 'Bad Request' }),
    );
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#limits.maxMessageBytes,
      // API Gateway negotiates no extension, and echoes a subprotocol only when $connect returned one.
      perMessageDeflate: false,
      handleProtocols: () => false,
    });
    this.#wss.on('headers', (headers, req) => {
      const protocol = this.#protocols.get(req);
      if (protocol !== undefined) headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
    });
  }

  async listen(): Promise<Gateway> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'EADDRINUSE'
            ? new PortInUseError(this.#host, this.#requestedPort, 'WebSocket API', { cause: error })
            : error,
        );
      };
      this.#http.once('error', onError);
      this.#http.listen(this.#requestedPort, this.#host, () => {
        this.#http.off('error', onError);
        resolve();
      });
    });
    this.#port = (this.#http.address() as AddressInfo).port;
    const base = `${this.#host}:${this.#port}/${this.#api.stage}`;
    return {
      url: `ws://${base}`,
      callbackUrl: `http://${base}`,
      port: this.#port,
      apiId: this.#apiId,
      setFaults: (faults) => {
        this.#faults = faults;
      },
      connections: () =>
        [...this.#connections.values()].filter((c) => c.state === 'open').map(connectionInfo),
      simulated: {
        create: (count) => this.#simulated.create(count),
        add: (ids) => this.#simulated.add(ids),
        stats: (withCounts) => this.#simulated.stats(withCounts),
        clear: () => this.#simulated.clear(),
      },
      stats: () => this.#stats(),
      close: () => this.#close(),
    };
  }

  #stats(): GatewayStats {
    const { closedConnectionMs, ...counts } = this.#counts;
    const now = Date.now();
    let openMs = 0;
    for (const connection of this.#connections.values())
      if (connection.state !== 'closed') openMs += now - connection.openedAt;
    return { ...counts, connectionMinutes: (closedConnectionMs + openMs) / 60_000 };
  }

  // ---- handshake --------------------------------------------------------------------------

  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // A client that resets mid-handshake must not take the gateway down.
    socket.on('error', () => {});
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (!this.#isStagePath(url.pathname)) return refuse(socket, 403, { message: 'Forbidden' });
    if (this.#awsUrlLength(req.url ?? '/') > MAX_URL_CHARS) {
      this.#log(`[gateway] refused a URL over API Gateway's ${MAX_URL_CHARS} characters`);
      return refuse(socket, 414, { message: 'Request-URI Too Long' });
    }
    if (this.#closing) return refuse(socket, 503, { message: 'Service Unavailable' });
    if (!isValidHandshake(req)) return refuse(socket, 400, { message: 'Bad Request' });

    this.#handshakes.add(socket);
    try {
      await this.#handshake(req, socket, head, url);
    } catch (error) {
      this.#log(`[gateway] handshake failed: ${describe(error)}`);
      refuse(socket, 500, { message: 'Internal server error' });
    } finally {
      this.#handshakes.delete(socket);
    }
  }

  async #handshake(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const connectedAt = Date.now();
    // Node hands a net.Socket to 'upgrade' listeners, typed as Duplex.
    const sourceIp = normalizeIp((socket as Duplex & { remoteAddress?: string }).remoteAddress);
    let context: ConnectionContext = {
      apiId: this.#apiId,
      stage: this.#api.stage,
      domainName: `${this.#host}:${this.#port}`,
      connectionId: newGatewayId(),
      connectedAt,
      identity: { sourceIp, userAgent: req.headers['user-agent'] ?? null },
    };
    const forwarded = { sourceIp, port: this.#port };

    const authorizer = this.#api.authorizer;
    if (authorizer !== undefined && this.#identitySources !== undefined) {
      if (!hasIdentity(this.#identitySources, req.headers, url.searchParams)) {
        return refuse(socket, 401, { message: 'Unauthorized' });
      }
      const started = Date.now();
      const parameters = requestParameters(req.rawHeaders, url.searchParams, forwarded, false);
      let result: unknown;
      try {
        result = await this.#invokeIntegration(
          authorizer.function,
          authorizerEvent(context, parameters, this.#methodArn, started),
        );
      } catch (error) {
        if (errorMessageOf(error) === 'Unauthorized') return refuse(socket, 401, { message: 'Unauthorized' });
        this.#log(`[gateway] authorizer ${authorizer.function} failed: ${describe(error)}`);
        return refuse(socket, 500, { message: null }, { 'x-amzn-ErrorType': 'AuthorizerFailure' });
      }
      const decision = readAuthorizerResult(result, this.#methodArn);
      if (decision.effect === 'Deny') return refuse(socket, 403, { message: 'Forbidden' });
      if (decision.effect === 'Malformed') {
        this.#log(
          `[gateway] authorizer ${authorizer.function} returned an invalid response: ${decision.reason}`,
        );
        return refuse(
          socket,
          500,
          { message: null },
          { 'x-amzn-ErrorType': 'AuthorizerConfigurationException' },
        );
      }
      context = {
        ...context,
        authorizer: {
          ...decision.context,
          principalId: decision.principalId,
          integrationLatency: Date.now() - started,
        },
      };
    }

    let protocol: string | undefined;
    const connectRoute = this.#api.routes.$connect;
    if (connectRoute !== undefined) {
      const parameters = requestParameters(req.rawHeaders, url.searchParams, forwarded, true);
      let result: unknown;
      try {
        result = await this.#invokeIntegration(
          connectRoute.function,
          connectEvent(context, parameters, Date.now()),
        );
      } catch (error) {
        this.#log(`[gateway] $connect ${connectRoute.function} failed: ${describe(error)}`);
        // A failed Lambda proxy integration is a 502 (Bad Gateway); a slow one a 504.
        const timedOut = error instanceof IntegrationTimeoutError;
        return refuse(socket, timedOut ? 504 : 502, {
          message: timedOut ? 'Endpoint request timed out' : 'Internal server error',
        });
      }
      const statusCode = proxyStatusCode(result);
      if (statusCode === undefined) {
        this.#log(`[gateway] $connect ${connectRoute.function} returned a malformed response`);
        return refuse(socket, 502, { message: 'Internal server error' });
      }
      if (statusCode < 200 || statusCode > 299) return refuse(socket, statusCode, undefined);
      protocol = responseSubprotocol(result);
    }

    // The connection stays pending (not in #connections, so the management API answers 410).
    const holdMs = this.#faults.connectHoldMs ?? 0;
    if (holdMs > 0 && !socket.destroyed) await holdOpen(socket, holdMs);

    if (socket.destroyed || this.#closing) {
      socket.destroy();
      // $connect accepted a connection that will never open: tell the app, as it may have stored it.
      if (connectRoute !== undefined) this.#sendDisconnect(context, { statusCode: 1006, reason: '' });
      return;
    }
    if (protocol !== undefined) this.#protocols.set(req, protocol);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#open(ws, socket, context));
  }

  /** The length the URL would have on AWS: `wss://{apiId}.execute-api.{region}.amazonaws.com` + path. */
  #awsUrlLength(pathAndQuery: string): number {
    return this.#awsHostLength + pathAndQuery.length;
  }

  #isStagePath(pathname: string): boolean {
    return pathname === `/${this.#api.stage}` || pathname === `/${this.#api.stage}/`;
  }

  // ---- open connections -------------------------------------------------------------------

  #open(ws: WebSocket, socket: Duplex, context: ConnectionContext): void {
    const now = Date.now();
    const connection: Connection = {
      context,
      ws,
      state: 'open',
      openedAt: now,
      lastActiveAt: now,
      lastTrafficAt: now,
      closeInfo: undefined,
      idleTimer: undefined,
      maxTimer: undefined,
    };
    this.#connections.set(context.connectionId, connection);
    const principal = context.authorizer?.principalId;
    this.#log(
      `[gateway] connected ${context.connectionId}${principal === undefined ? '' : ` (${principal})`}`,
    );
    // Ahead of ws's own listener, so a frame over the limit is seen before ws hands on its message.
    socket.prependListener(
      'data',
      watchFrameSizes(this.#limits.maxFrameBytes, () => this.#closeByGateway(connection, TOO_BIG)),
    );
    ws.on('message', (data, isBinary) => this.#onMessage(connection, data, isBinary));
    ws.on('error', (error: Error & { code?: string }) => {
      // ws closes the socket itself after a protocol error; record why for $disconnect.
      connection.closeInfo ??=
        error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
          ? TOO_BIG
          : error.code === 'WS_ERR_INVALID_UTF8'
            ? { statusCode: 1007, reason: 'Invalid frame payload data' }
            : { statusCode: 1002, reason: 'Protocol error' };
      if (connection.state === 'open') connection.state = 'closing';
    });
    ws.on('close', (code, reason) => this.#onClose(connection, code, reason.toString('utf8')));
    this.#armIdleTimer(connection, this.#limits.idleTimeoutMs);
    connection.maxTimer = setTimeout(
      () => this.#closeByGateway(connection, GOING_AWAY),
      this.#limits.maxConnectionMs,
    );
    connection.maxTimer.unref();
  }

  #armIdleTimer(connection: Connection, delayMs: number): void {
    connection.idleTimer = setTimeout(() => {
      const due = connection.lastTrafficAt + this.#limits.idleTimeoutMs;
      const now = Date.now();
      if (now >= due) this.#closeByGateway(connection, GOING_AWAY);
      else this.#armIdleTimer(connection, due - now);
    }, delayMs);
    connection.idleTimer.unref();
  }

  #onMessage(connection: Connection, data: RawData, isBinary: boolean): void {
    const now = Date.now();
    connection.lastActiveAt = now;
    connection.lastTrafficAt = now;
    if (connection.state !== 'open') return;
    if (isBinary) {
      this.#closeByGateway(connection, BINARY_REFUSED);
      return;
    }
    const buffer = rawToBuffer(data);
    this.#counts.clientMessages += 1;
    this.#counts.billedClientMessages += billedMessages(buffer.length);
    const text = buffer.toString('utf8');
    const routeKey = this.#selectRoute({ text });
    const connectionId = connection.context.connectionId;
    if (routeKey === undefined) {
      this.#send(connection, errorFrame('Forbidden', connectionId, newGatewayId()), false);
      return;
    }
    const route = this.#api.routes[routeKey];
    if (route === undefined) return;
    const event = messageEvent(connection.context, routeKey, { body: text, isBase64Encoded: false }, now);
    const requestId = event.requestContext.requestId;
    const work = this.#invokeIntegration(route.function, event).then(
      (result) => {
        if (route.returnResponse === true) this.#sendRouteResponse(connection, routeKey, result);
      },
      (error: unknown) => {
        this.#log(`[gateway] ${routeKey} ${route.function} failed: ${describe(error)}`);
        const message =
          error instanceof IntegrationTimeoutError ? 'Endpoint request timed out' : 'Internal server error';
        this.#send(connection, errorFrame(message, connectionId, requestId), false);
      },
    );
    this.#track(work);
  }

  /** Sends a two-way route's response: a string result, or the `body` of a proxy response. */
  #sendRouteResponse(connection: Connection, routeKey: string, result: unknown): void {
    if (typeof result === 'string') {
      this.#send(connection, result, false);
      return;
    }
    if (typeof result !== 'object' || result === null) return;
    const { body, isBase64Encoded } = result as { body?: unknown; isBase64Encoded?: unknown };
    if (body === undefined || body === null) return;
    if (typeof body !== 'string') {
      this.#log(`[gateway] ${routeKey}: response body is not a string; nothing sent`);
      return;
    }
    if (isBase64Encoded === true) this.#send(connection, Buffer.from(body, 'base64'), true);
    else this.#send(connection, body, false);
  }

  /** Sends a frame; data frames sent by the gateway count as traffic for the idle timeout. */
  #send(connection: Connection, data: string | Buffer, binary: boolean): boolean {
    if (connection.state !== 'open' || connection.ws.readyState !== WebSocket.OPEN) return false;
    connection.ws.send(data, { binary });
    connection.lastTrafficAt = Date.now();
    return true;
  }

  #closeByGateway(connection: Connection, info: CloseInfo): void {
    if (connection.state !== 'open') return;
    connection.state = 'closing';
    connection.closeInfo = info;
    connection.ws.close(info.statusCode, info.reason);
  }

  #onClose(connection: Connection, code: number, reason: string): void {
    clearTimeout(connection.idleTimer);
    clearTimeout(connection.maxTimer);
    connection.state = 'closed';
    this.#counts.closedConnectionMs += Date.now() - connection.openedAt;
    this.#connections.delete(connection.context.connectionId);
    const close = connection.closeInfo ?? { statusCode: code, reason };
    this.#log(
      `[gateway] disconnected ${connection.context.connectionId} (${close.statusCode}${close.reason === '' ? '' : ` ${close.reason}`})`,
    );
    this.#sendDisconnect(connection.context, close);
  }

  /** `$disconnect` is best effort, as on AWS: its failures are only logged. */
  #sendDisconnect(context: ConnectionContext, close: CloseInfo): void {
    const route = this.#api.routes.$disconnect;
    if (route === undefined) return;
    const work = this.#invokeIntegration(route.function, disconnectEvent(context, close, Date.now())).catch(
      (error: unknown) => {
        this.#log(`[gateway] $disconnect ${route.function} failed: ${describe(error)}`);
      },
    );
    this.#track(work);
  }

  /** What the management API may do to connections: open ones are found, then simulated ones. */
  #registry(): ConnectionRegistry {
    const find = (id: string) => {
      const connection = this.#connections.get(id);
      return connection?.state === 'open' ? connection : undefined;
    };
    return {
      info: (id) => {
        const connection = find(id);
        if (connection !== undefined) return connectionInfo(connection);
        const simulated = this.#simulated.get(id);
        return simulated && simulatedConnectionInfo(simulated.id, simulated.registeredAt);
      },
      post: (id, data, binary) => {
        const connection = find(id);
        const posted =
          connection !== undefined
            ? this.#send(connection, data, binary)
            : this.#simulated.post(id, data.length);
        if (posted) {
          this.#counts.posts += 1;
          this.#counts.postedBytes += data.length;
          this.#counts.billedPosts += billedMessages(data.length);
        }
        return posted;
      },
      disconnect: (id) => {
        const connection = find(id);
        if (connection === undefined) return this.#simulated.delete(id);
        this.#closeByGateway(connection, { statusCode: 1000, reason: 'Connection Closed Normally' });
        return true;
      },
    };
  }

  // ---- plumbing ---------------------------------------------------------------------------

  /** Invokes an integration, giving up (without stopping the function) after the integration timeout. */
  #invokeIntegration(functionName: string, event: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new IntegrationTimeoutError(
            `${functionName} did not answer within ${this.#limits.integrationTimeoutMs} ms`,
          ),
        );
      }, this.#limits.integrationTimeoutMs);
      this.#invoke(functionName, event).then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #track(work: Promise<unknown>): void {
    this.#background.add(work);
    void work.finally(() => this.#background.delete(work));
  }

  async #close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const serverClosed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    for (const socket of this.#handshakes) socket.destroy();
    const connections = [...this.#connections.values()];
    for (const connection of connections) this.#closeByGateway(connection, GOING_AWAY);
    const deadline = Date.now() + CLOSE_GRACE_MS;
    while (this.#connections.size > 0 && Date.now() < deadline) await delay(10);
    for (const connection of this.#connections.values()) connection.ws.terminate();
    while (this.#connections.size > 0 && Date.now() < deadline + CLOSE_GRACE_MS) await delay(10);
    // $disconnect invocations (and any route still running) finish before close() resolves.
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
    this.#wss.close();
    this.#simulated.clear();
    this.#http.closeAllConnections();
    await serverClosed;
  }
}

// ---- helpers --------------------------------------------------------------------------------

function connectionInfo(connection: Connection): ConnectionInfo {
  const { context } = connection;
  return {
    id: context.connectionId,
    connectedAt: context.connectedAt,
    lastActiveAt: connection.lastActiveAt,
    sourceIp: context.identity.sourceIp,
    userAgent: context.identity.userAgent,
    principal:
      context.authorizer?.principalId === undefined ? undefined : String(context.authorizer.principalId),
  };
}

/** A simulated connection as GET `@connections/{id}` reports it: never active since it was registered. */
function simulatedConnectionInfo(id: string, registeredAt: number): ConnectionInfo {
  return {
    id,
    connectedAt: registeredAt,
    lastActiveAt: registeredAt,
    sourceIp: '127.0.0.1',
    userAgent: null,
    principal: undefined,
  };
}

/** A gateway error frame, byte for byte as API Gateway writes it. */
function errorFrame(message: string, connectionId: string, requestId: string): string {
  return `{"message": "${message}", "connectionId":"${connectionId}", "requestId":"${requestId}"}`;
}

/** Ends a handshake with an HTTP error response instead of 101. */
function refuse(
  socket: Duplex,
  statusCode: number,
  body: Record<string, unknown> | undefined,
  headers: Record<string, string> = {},
): void {
  if (!socket.destroyed && socket.writable) {
    const text = body === undefined ? '' : JSON.stringify(body);
    const lines = [
      `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Unknown'}`,
      'Connection: close',
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(text)}`,
      `x-amzn-RequestId: ${randomUUID()}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`, () => socket.destroy());
  }
  // A client that never reads must not keep the socket open.
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/** Messages API Gateway bills for one message of `bytes` (at least one). */
function billedMessages(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / BILLED_MESSAGE_BYTES));
}

/** The status of a Lambda proxy response; a missing one counts as 200, a malformed one is undefined. */
function proxyStatusCode(result: unknown): number | undefined {
  if (result === null || result === undefined || typeof result !== 'object') return 200;
  const raw = (result as { statusCode?: unknown }).statusCode;
  if (raw === undefined || raw === null) return 200;
  const statusCode = typeof raw === 'string' ? Number(raw) : raw;
  if (
    typeof statusCode !== 'number' ||
    !Number.isInteger(statusCode) ||
    statusCode < 100 ||
    statusCode > 599
  ) {
    return undefined;
  }
  return statusCode;
}

/** The `Sec-WebSocket-Protocol` header of a `$connect` response (any casing), if it has one. */
function responseSubprotocol(result: unknown): string | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const { headers, multiValueHeaders } = result as { headers?: unknown; multiValueHeaders?: unknown };
  const find = (map: unknown): unknown =>
    typeof map === 'object' && map !== null
      ? Object.entries(map).find(([name]) => name.toLowerCase() === 'sec-websocket-protocol')?.[1]
      : undefined;
  const single = find(headers);
  const multi = find(multiValueHeaders);
  const value = typeof single === 'string' ? single : Array.isArray(multi) ? multi[0] : undefined;
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function isValidHandshake(req: IncomingMessage): boolean {
  const key = req.headers['sec-websocket-key'];
  return (
    req.method === 'GET' &&
    req.headers.upgrade?.toLowerCase() === 'websocket' &&
    typeof key === 'string' &&
    /^[+/0-9A-Za-z]{22}==$/.test(key) &&
    (req.headers['sec-websocket-version'] === '13' || req.headers['sec-websocket-version'] === '8')
  );
}

/** The raw `errorMessage` of a function error, also from an Invoke that is not LambdaRuntime. */
function errorMessageOf(error: unknown): string | undefined {
  if (!(error instanceof Error)) return typeof error === 'string' ? error : undefined;
  const raw = (error as { errorMessage?: unknown }).errorMessage;
  if (typeof raw === 'string') return raw;
  if (error instanceof FunctionError) {
    const prefix = `${error.functionName} failed: ${error.errorType}: `;
    return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  }
  return error.message;
}

/** Waits `ms` before the 101, or less when the client or close() ends the socket meanwhile. */
function holdOpen(socket: Duplex, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.once('close', done);
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function normalizeIp(address: string | undefined): string {
  if (address === undefined) return '127.0.0.1';
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

/** A 10-character lowercase id like API Gateway's, stable for a given API name. */
/** The id a gateway gives its API when none is set: 10 characters derived from the API's name. */
export function stableApiId(name: string): string {
  let hash = 0x811c9dc5;
  let id = '';
  for (let round = 0; id.length < 10; round += 1) {
    for (const char of `${name}#${round}`) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
    id += hash.toString(36);
  }
  return id.slice(0, 10);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
