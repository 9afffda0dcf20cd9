import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import WebSocket from 'ws';
import { PortInUseError } from '../../emulator/gateway/errors.ts';
import { type Gateway, type GatewayOptions, startGateway } from '../../emulator/gateway/gateway.ts';
import { LambdaRuntime } from '../../emulator/lambda/lambda-runtime.ts';
import type { Invoke, WebSocketApiSpec } from '../../emulator/topology.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/gateway/${name}.ts`, import.meta.url));

/** The parts of the gateway's events these tests read. */
interface RecordedEvent {
  readonly type?: string;
  readonly methodArn?: string;
  readonly headers: Record<string, string>;
  readonly multiValueHeaders: Record<string, string[]>;
  readonly queryStringParameters: Record<string, string>;
  readonly multiValueQueryStringParameters: Record<string, string[]>;
  readonly requestContext: {
    readonly routeKey: string;
    readonly eventType: string;
    readonly connectionId: string;
    readonly apiId: string;
    readonly stage: string;
    readonly identity: { readonly sourceIp: string };
    readonly connectedAt: number;
    readonly requestTimeEpoch: number;
    readonly disconnectStatusCode?: number;
    readonly disconnectReason?: string;
    readonly authorizer?: Record<string, string | number | null>;
  };
}

/** What the echo fixture answers. */
interface EchoReply {
  readonly routeKey: string;
  readonly eventType: string;
  readonly connectionId: string;
  readonly messageId: string;
  readonly authorizer: Record<string, string | number | null>;
  readonly body: string;
  readonly isBase64Encoded: boolean;
}

/** An SDK v3 service error. */
type ServiceError = Error & { readonly $metadata: { readonly httpStatusCode?: number } };

/** Every invocation the gateway made, with its event and whether it has settled. */
interface Call {
  readonly functionName: string;
  readonly event: RecordedEvent;
  settled: boolean;
}

/** A ws client that buffers frames, so no frame is missed between awaits. */
class Client {
  readonly frames: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.frames.push(isBinary ? `binary:${(data as Buffer).toString('base64')}` : data.toString());
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }

  /** The next frame not yet taken, within `timeoutMs` (generous: it bounds a wait, not a speed). */
  async next(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no frame arrived in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames.shift() as string;
  }

  /** The close, or code -1 when the connection is still open after `timeoutMs`. */
  closedWithin(timeoutMs = 30_000): Promise<{ code: number; reason: string }> {
    return Promise.race([this.closed, sleep(timeoutMs).then(() => ({ code: -1, reason: 'still open' }))]);
  }

  async json(timeoutMs?: number): Promise<EchoReply> {
    return JSON.parse(await this.next(timeoutMs)) as EchoReply;
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  async close(code = 1000, reason = ''): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    await Promise.race([this.closed, sleep(2_000)]);
    this.ws.terminate();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

type Handshake =
  | { ok: true; client: Client; protocol: string }
  | { ok: false; status: number | undefined; error: string; upgraded: boolean };

function handshake(url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}) {
  return new Promise<Handshake>((resolve) => {
    const ws = new WebSocket(url, options.protocols ?? [], {
      headers: options.headers,
      handshakeTimeout: 10_000,
    });
    const client = new Client(ws);
    let upgraded = false;
    ws.on('upgrade', () => {
      upgraded = true;
    });
    ws.on('open', () => resolve({ ok: true, client, protocol: ws.protocol }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ ok: false, status: res.statusCode, error: `HTTP ${res.statusCode}`, upgraded });
      res.resume();
      ws.terminate();
    });
    ws.on('error', (error) => resolve({ ok: false, status: undefined, error: error.message, upgraded }));
  });
}

async function open(url: string, options?: Parameters<typeof handshake>[1]): Promise<Client> {
  const result = await handshake(url, options);
  if (!result.ok) throw new Error(`handshake refused: ${result.error}`);
  return result.client;
}

async function errorOf(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  assert.fail('expected the call to fail');
}

const API: WebSocketApiSpec = {
  name: 'fixture-api',
  stage: 'test',
  authorizer: { function: 'authorizer', identitySource: ['route.request.querystring.token'] },
  routes: {
    $connect: { function: 'connect' },
    $disconnect: { function: 'disconnect' },
    $default: { function: 'echo', returnResponse: true },
    echo: { function: 'echo', returnResponse: true },
    quiet: { function: 'echo' },
  },
};

describe('API Gateway WebSocket emulator', () => {
  const calls: Call[] = [];
  const gatewayLogs: string[] = [];
  const started: Gateway[] = [];
  const sdkClients: ApiGatewayManagementApiClient[] = [];
  /** Runs before the function of an invocation, while the gateway waits for it. */
  let beforeInvoke: ((functionName: string, event: RecordedEvent) => Promise<void>) | undefined;
  let runtime: LambdaRuntime;
  let invoke: Invoke;
  let gateway: Gateway;

  const disconnectsOf = (connectionId: string) =>
    calls.filter(
      (c) => c.functionName === 'disconnect' && c.event.requestContext.connectionId === connectionId,
    );
  const callsOf = (functionName: string) => calls.filter((c) => c.functionName === functionName);
  const messagesOf = (connectionId: string) =>
    calls.filter((c) => c.functionName === 'echo' && c.event.requestContext.connectionId === connectionId);

  async function start(overrides: Partial<GatewayOptions> = {}): Promise<Gateway> {
    const started_ = await startGateway({
      api: API,
      invoke,
      log: (line) => gatewayLogs.push(line),
      ...overrides,
    });
    started.push(started_);
    return started_;
  }

  function management(target: Gateway): ApiGatewayManagementApiClient {
    const client = new ApiGatewayManagementApiClient({
      endpoint: target.callbackUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    sdkClients.push(client);
    return client;
  }

  before(async () => {
    runtime = new LambdaRuntime({
      log: () => {},
      functions: [
        { name: 'authorizer', entry: fixture('authorizer') },
        { name: 'connect', entry: fixture('connect') },
        { name: 'echo', entry: fixture('echo') },
        { name: 'disconnect', entry: fixture('disconnect') },
      ],
    });
    invoke = async (functionName, event) => {
      const call: Call = { functionName, event: event as RecordedEvent, settled: false };
      calls.push(call);
      try {
        if (beforeInvoke !== undefined) await beforeInvoke(functionName, call.event);
        return await runtime.invoke(functionName, event);
      } finally {
        call.settled = true;
      }
    };
    gateway = await start();
  });

  after(async () => {
    for (const client of sdkClients) client.destroy();
    for (const g of started) await g.close();
    await runtime.close();
  });

  describe('handshake and authorizer', () => {
    it('refuses with 401 without calling the authorizer when an identity source is missing', async () => {
      const before = runtime.stats('authorizer').invocations;

      const result = await handshake(gateway.url);
      const empty = await handshake(`${gateway.url}?token=`);

      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.status, 401);
      assert.equal(!empty.ok && empty.status, 401);
      assert.equal(runtime.stats('authorizer').invocations, before);
    });

    it('refuses with 403 when the authorizer returns a Deny policy', async () => {
      const result = await handshake(`${gateway.url}?token=deny`);

      assert.equal(!result.ok && result.status, 403);
    });

    it("refuses with 401 when the authorizer throws 'Unauthorized', 500 for any other failure", async () => {
      const unauthorized = await handshake(`${gateway.url}?token=unauthorized`);
      const broken = await handshake(`${gateway.url}?token=broken`);
      const badContext = await handshake(`${gateway.url}?token=bad-context`);

      assert.equal(!unauthorized.ok && unauthorized.status, 401);
      assert.equal(!broken.ok && broken.status, 500);
      assert.equal(!badContext.ok && badContext.status, 500);
    });

    it("refuses with 500 AuthorizerConfigurationException a result over API Gateway's 8 KB", async () => {
      const fits = await handshake(`${gateway.url}?token=big-context:7000`);
      const over = await handshake(`${gateway.url}?token=big-context:9000`);

      assert.equal(fits.ok, true);
      if (fits.ok) await fits.client.close();
      assert.equal(!over.ok && over.status, 500);
      assert.ok(gatewayLogs.some((line) => /over the 8192-byte limit/.test(line)));
    });

    it('answers 414 to a URL over 4,096 characters (a 16 KB token in the query) without calling the authorizer', async () => {
      const before = runtime.stats('authorizer').invocations;

      const result = await handshake(`${gateway.url}?token=${'a'.repeat(16 * 1024)}`);

      assert.equal(!result.ok && result.status, 414);
      assert.equal(runtime.stats('authorizer').invocations, before);
    });

    it('answers a 16 KB token in a header with a status, and headers over 64 KB with 431, not a reset', async () => {
      const sixteen = await handshake(gateway.url, { headers: { 'X-Token': 'b'.repeat(16 * 1024) } });
      const huge = await handshake(gateway.url, { headers: { 'X-Token': 'c'.repeat(70 * 1024) } });

      // The identity source is the query string, so the header alone is a missing identity (401).
      assert.equal(!sixteen.ok && sixteen.status, 401);
      assert.equal(!huge.ok && huge.status, 431);
    });

    it('calls the authorizer with the REQUEST event of a WebSocket $connect', async () => {
      const client = await open(`${gateway.url}?token=user:shape&x=1&x=2`, { headers: { 'X-Custom': 'v' } });
      const event = callsOf('authorizer').at(-1)?.event;

      assert.ok(event !== undefined);
      assert.equal(event.type, 'REQUEST');
      assert.equal(
        event.methodArn,
        `arn:aws:execute-api:us-east-1:000000000000:${gateway.apiId}/test/$connect`,
      );
      assert.equal(event.headers['X-Custom'], 'v');
      assert.deepEqual(event.multiValueHeaders['X-Custom'], ['v']);
      assert.equal(event.queryStringParameters.token, 'user:shape');
      assert.equal(event.queryStringParameters.x, '2');
      assert.deepEqual(event.multiValueQueryStringParameters.x, ['1', '2']);
      assert.equal(event.requestContext.routeKey, '$connect');
      assert.equal(event.requestContext.eventType, 'CONNECT');
      assert.equal(event.requestContext.identity.sourceIp, '127.0.0.1');
      assert.match(event.requestContext.connectionId, /^[A-Za-z0-9_-]{15}=$/);
      assert.equal(event.requestContext.apiId, gateway.apiId);
      assert.equal(event.requestContext.stage, 'test');
      await client.close();
    });

    it('reads header identity sources case-insensitively', async () => {
      const headerGateway = await start({
        api: {
          ...API,
          authorizer: { function: 'authorizer', identitySource: ['route.request.header.X-Token'] },
        },
      });

      const missing = await handshake(headerGateway.url);
      const client = await open(headerGateway.url, { headers: { 'x-token': 'user:by-header' } });

      assert.equal(!missing.ok && missing.status, 401);
      assert.equal(headerGateway.connections()[0]?.principal, 'by-header');
      await client.close();
    });

    it('refuses the handshake with the status a $connect function returns', async () => {
      const result = await handshake(`${gateway.url}?token=user:u1&status=409`);

      assert.equal(!result.ok && result.status, 409);
    });

    it('refuses the handshake with 502 when the $connect function throws', async () => {
      const result = await handshake(`${gateway.url}?token=user:u1&fail=throw`);

      assert.equal(!result.ok && result.status, 502);
    });

    it('echoes the subprotocol the $connect response names', async () => {
      const result = await handshake(`${gateway.url}?token=user:u1`, { protocols: ['pushline.v1', 'other'] });

      assert.ok(result.ok);
      assert.equal(result.protocol, 'pushline.v1');
      await result.client.close();
    });

    it('completes the handshake without a subprotocol when $connect names none, which clients then reject', async () => {
      const result = await handshake(`${gateway.url}?token=user:u1&echo=no`, { protocols: ['pushline.v1'] });

      // The gateway answered 101 (as AWS does); ws, like browsers, fails a handshake with no subprotocol.
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.upgraded, true);
      assert.match(!result.ok ? result.error : '', /Server sent no subprotocol/);
    });

    it('answers 410 GoneException to a post made during the connection’s own $connect', async () => {
      const sdk = management(gateway);
      let postError: ServiceError | undefined;
      beforeInvoke = async (functionName, event) => {
        if (functionName !== 'connect') return;
        postError = await errorOf(
          sdk.send(
            new PostToConnectionCommand({
              ConnectionId: event.requestContext.connectionId,
              Data: 'too early',
            }),
          ),
        );
      };
      try {
        const client = await open(`${gateway.url}?token=user:early`);
        assert.equal(postError?.name, 'GoneException');
        assert.equal(postError?.$metadata.httpStatusCode, 410);
        await client.close();
      } finally {
        beforeInvoke = undefined;
      }
    });
  });

  describe('a $connect held open by connectHoldMs', () => {
    it('answers 410 GoneException to a post during the hold and delivers one once the handshake completes', async () => {
      const held = await start({ faults: { connectHoldMs: 1_500 } });
      const sdk = management(held);
      const connecting = open(`${held.url}?token=user:held`);
      // $connect's handler has returned: the gateway is now holding the handshake.
      const connect = await waitFor(
        () =>
          callsOf('connect').find((c) => c.settled && c.event.queryStringParameters?.token === 'user:held'),
        '$connect of the held connection',
      );
      const connectionId = connect.event.requestContext.connectionId;
      const connectReturnedAt = Date.now();

      const early = await errorOf(
        sdk.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'too early' })),
      );
      const client = await connecting;
      const openedAfterMs = Date.now() - connectReturnedAt;
      const output = await sdk.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'after the hold' }),
      );

      assert.equal(early.name, 'GoneException');
      assert.equal(early.$metadata.httpStatusCode, 410);
      // The polling above sees $connect return up to a few ms late, hence the margin.
      assert.ok(
        openedAfterMs >= 1_400,
        `the handshake completed ${openedAfterMs} ms after $connect returned`,
      );
      assert.equal(output.$metadata.httpStatusCode, 200);
      assert.equal(await client.next(), 'after the hold');
      await client.close();
    });
  });

  describe('messages', () => {
    let client: Client;
    let connectionId: string;

    before(async () => {
      client = await open(`${gateway.url}?token=user:alice`);
      connectionId = await waitFor(
        () => gateway.connections().find((c) => c.principal === 'alice')?.id,
        'the connection to be listed',
      );
    });

    after(async () => {
      await client.close();
    });

    it('routes on the action field to the matching route', async () => {
      client.send({ action: 'echo', n: 1 });
      const reply = await client.json();

      assert.equal(reply.routeKey, 'echo');
      assert.equal(reply.eventType, 'MESSAGE');
      assert.equal(reply.connectionId, connectionId);
      assert.match(reply.messageId, /^[A-Za-z0-9_-]{15}=$/);
      assert.equal(reply.body, '{"action":"echo","n":1}');
    });

    it('routes an unknown action and a non-JSON message to $default', async () => {
      client.send({ action: 'no-such-route' });
      const unknown = await client.json();
      client.send('plain text, not JSON');
      const text = await client.json();

      assert.equal(unknown.routeKey, '$default');
      assert.equal(text.routeKey, '$default');
      assert.equal(text.body, 'plain text, not JSON');
    });

    it('passes the authorizer principal and stringified context to message events', async () => {
      client.send({ action: 'echo' });
      const reply = await client.json();

      assert.equal(reply.authorizer.principalId, 'alice');
      assert.equal(reply.authorizer.userId, 'alice');
      assert.equal(reply.authorizer.quota, '42');
      assert.equal(reply.authorizer.beta, 'true');
      assert.equal(typeof reply.authorizer.integrationLatency, 'number');
      const connect = callsOf('connect').find((c) => c.event.requestContext.connectionId === connectionId);
      assert.equal(connect?.event.requestContext.authorizer?.principalId, 'alice');
    });

    it('sends nothing back from a one-way route', async () => {
      const before = callsOf('echo').length;
      client.send({ action: 'quiet' });
      await waitFor(
        () => (callsOf('echo').length > before && callsOf('echo').at(-1)?.settled) || undefined,
        'quiet',
      );
      client.send({ action: 'echo', marker: 'after-quiet' });

      const reply = await client.json();
      assert.equal(reply.routeKey, 'echo');
      assert.match(reply.body, /after-quiet/);
    });

    it('sends a string result of a two-way route as is', async () => {
      client.send({ action: 'echo', string: 'just this' });

      assert.equal(await client.next(), 'just this');
    });

    it('answers a failing route with the Internal server error frame and keeps the connection open', async () => {
      client.send({ action: 'echo', fail: true });
      const frame = await client.next();

      assert.match(
        frame,
        new RegExp(
          `^\\{"message": "Internal server error", "connectionId":"${escapeRegExp(connectionId)}", "requestId":"[A-Za-z0-9_-]{15}="\\}$`,
        ),
      );
      client.send({ action: 'echo' });
      assert.equal((await client.json()).routeKey, 'echo');
    });

    it('updates lastActiveAt on client frames', async () => {
      const before = gateway.connections().find((c) => c.id === connectionId)?.lastActiveAt ?? 0;
      await sleep(20);
      client.send({ action: 'quiet' });

      await waitFor(
        () =>
          (gateway.connections().find((c) => c.id === connectionId)?.lastActiveAt ?? 0) > before
            ? true
            : undefined,
        'lastActiveAt to move',
      );
    });
  });

  it('answers the Forbidden frame when no route matches and there is no $default', async () => {
    const { $default: _, ...routes } = API.routes;
    const strict = await start({ api: { ...API, routes } });
    const client = await open(`${strict.url}?token=user:bob`);
    const connectionId = strict.connections()[0]?.id ?? '';

    client.send({ action: 'nothing-here' });
    const frame = await client.next();

    assert.match(
      frame,
      new RegExp(
        `^\\{"message": "Forbidden", "connectionId":"${escapeRegExp(connectionId)}", "requestId":"[A-Za-z0-9_-]{15}="\\}$`,
      ),
    );
    await client.close();
  });

  it('answers Endpoint request timed out when a route outlives the integration timeout', async () => {
    const hurried = await start({ limits: { integrationTimeoutMs: 200 } });
    const client = await open(`${hurried.url}?token=user:slow`);

    client.send({ action: 'echo', sleepMs: 600 });

    assert.match(await client.next(), /^\{"message": "Endpoint request timed out", "connectionId":/);
    await client.close();
  });

  describe('management API with the real SDK client', () => {
    it('posts data to the connection as a text frame', async () => {
      const client = await open(`${gateway.url}?token=user:carol`);
      const id = gateway.connections().find((c) => c.principal === 'carol')?.id ?? '';

      const output = await management(gateway).send(
        new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('{"kind":"message"}') }),
      );

      assert.equal(output.$metadata.httpStatusCode, 200);
      assert.equal(await client.next(), '{"kind":"message"}');
      await client.close();
    });

    it('returns ConnectedAt, LastActiveAt and Identity for GET', async () => {
      const client = await open(`${gateway.url}?token=user:dave`, {
        headers: { 'User-Agent': 'fixture-agent/1.0' },
      });
      const info = gateway.connections().find((c) => c.principal === 'dave');

      const output = await management(gateway).send(new GetConnectionCommand({ ConnectionId: info?.id }));

      assert.ok(output.ConnectedAt instanceof Date);
      assert.equal(output.ConnectedAt.getTime(), info?.connectedAt);
      assert.ok(output.LastActiveAt instanceof Date);
      assert.equal(output.Identity?.SourceIp, '127.0.0.1');
      assert.equal(output.Identity?.UserAgent, 'fixture-agent/1.0');
      await client.close();
    });

    it('closes the connection on DELETE and then sends $disconnect with the authorizer context', async () => {
      const client = await open(`${gateway.url}?token=user:erin`);
      const id = gateway.connections().find((c) => c.principal === 'erin')?.id ?? '';
      const sdk = management(gateway);

      const output = await sdk.send(new DeleteConnectionCommand({ ConnectionId: id }));
      const closed = await client.closed;
      const disconnect = await waitFor(() => disconnectsOf(id)[0], '$disconnect');

      assert.equal(output.$metadata.httpStatusCode, 204);
      assert.equal(closed.code, 1000);
      assert.equal(disconnect.event.requestContext.eventType, 'DISCONNECT');
      assert.equal(disconnect.event.requestContext.disconnectStatusCode, 1000);
      assert.equal(disconnect.event.requestContext.authorizer?.principalId, 'erin');
      assert.equal(disconnect.event.requestContext.authorizer?.plan, 'pro');
      const gone = await errorOf(sdk.send(new GetConnectionCommand({ ConnectionId: id })));
      assert.equal(gone.name, 'GoneException');
    });

    it('answers GoneException (410) for an unknown connection id', async () => {
      const error = await errorOf(
        management(gateway).send(
          new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: 'x' }),
        ),
      );

      assert.equal(error.name, 'GoneException');
      assert.equal(error.$metadata.httpStatusCode, 410);
    });

    it('answers PayloadTooLargeException (413) for data over the message limit', async () => {
      const small = await start({ limits: { maxMessageBytes: 1024 } });
      const client = await open(`${small.url}?token=user:frank`);
      const id = small.connections()[0]?.id ?? '';

      const error = await errorOf(
        management(small).send(
          new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.alloc(1025, 97) }),
        ),
      );
      const fits = await management(small).send(
        new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.alloc(1024, 97) }),
      );

      assert.equal(error.name, 'PayloadTooLargeException');
      assert.equal(error.$metadata.httpStatusCode, 413);
      assert.equal(fits.$metadata.httpStatusCode, 200);
      await client.close();
    });

    it('injects LimitExceededException (429) and InternalServerErrorException (500) faults', async () => {
      const faulty = await start();
      const client = await open(`${faulty.url}?token=user:grace`);
      const id = faulty.connections()[0]?.id ?? '';
      const sdk = management(faulty);

      faulty.setFaults({ errorRate: 1, errorStatus: 429 });
      const throttled = await errorOf(sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'x' })));
      faulty.setFaults({ errorRate: 1, errorStatus: 500 });
      const failed = await errorOf(sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'x' })));
      faulty.setFaults({ latencyMs: 150 });
      const began = Date.now();
      await sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'slow' }));
      const tookMs = Date.now() - began;

      assert.equal(throttled.name, 'LimitExceededException');
      assert.equal(throttled.$metadata.httpStatusCode, 429);
      assert.equal(failed.name, 'InternalServerErrorException');
      assert.equal(failed.$metadata.httpStatusCode, 500);
      assert.ok(tookMs >= 150, `latency knob: ${tookMs} ms`);
      assert.equal(await client.next(), 'slow');
      await client.close();
    });
  });

  describe('limits and disconnects', () => {
    it('closes with 1009 a client message over the limit, then sends $disconnect', async () => {
      const small = await start({ limits: { maxMessageBytes: 1024 } });
      const client = await open(`${small.url}?token=user:henry`);
      const id = small.connections()[0]?.id ?? '';

      client.send('x'.repeat(2048));
      const closed = await client.closed;
      const disconnect = await waitFor(() => disconnectsOf(id)[0], '$disconnect');

      assert.equal(closed.code, 1009);
      assert.equal(disconnect.event.requestContext.disconnectStatusCode, 1009);
    });

    it('closes with 1003 a connection that sends a binary frame, as API Gateway does, then sends $disconnect', async () => {
      const client = await open(`${gateway.url}?token=user:bea`);
      const id = gateway.connections().find((c) => c.principal === 'bea')?.id ?? '';

      client.ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
      const closed = await client.closedWithin();
      const disconnect = await waitFor(() => disconnectsOf(id)[0], '$disconnect');

      assert.equal(closed.code, 1003);
      assert.equal(disconnect.event.requestContext.disconnectStatusCode, 1003);
      assert.equal(messagesOf(id).length, 0, 'the binary frame reached no route');
    });

    it('closes with 1009 a single frame over 32 KB although the message fits 128 KB', async () => {
      const client = await open(`${gateway.url}?token=user:cid`);
      const id = gateway.connections().find((c) => c.principal === 'cid')?.id ?? '';

      client.send({ action: 'echo', pad: 'x'.repeat(33 * 1024) });
      const closed = await client.closedWithin();
      const disconnect = await waitFor(() => disconnectsOf(id)[0], '$disconnect');

      assert.equal(closed.code, 1009);
      assert.equal(disconnect.event.requestContext.disconnectStatusCode, 1009);
      assert.equal(messagesOf(id).length, 0, 'the message reached no route');
    });

    it('takes a 100 KB message sent in frames of 32 KB', async () => {
      const client = await open(`${gateway.url}?token=user:dov`);
      const text = JSON.stringify({ action: 'no-such-route', pad: 'y'.repeat(100 * 1024) });
      const frameBytes = 32 * 1024;
      for (let offset = 0; offset < text.length; offset += frameBytes)
        client.ws.send(text.slice(offset, offset + frameBytes), { fin: offset + frameBytes >= text.length });
      const reply = await client.json();

      assert.equal(reply.routeKey, '$default');
      assert.equal(reply.body, text);
      await client.close();
    });

    it('closes an idle connection with 1001 Going away after the idle timeout', async () => {
      const idle = await start({ limits: { idleTimeoutMs: 300 } });
      // Taken before the handshake, so that a slow 'open' event cannot shorten the measured time.
      const opened = Date.now();
      const client = await open(`${idle.url}?token=user:ivy`);
      const id = idle.connections()[0]?.id ?? '';

      const closed = await client.closed;
      const disconnect = await waitFor(() => disconnectsOf(id)[0], '$disconnect');

      assert.ok(Date.now() - opened >= 290, 'not before the idle timeout');
      assert.deepEqual(closed, { code: 1001, reason: 'Going away' });
      assert.equal(disconnect.event.requestContext.disconnectStatusCode, 1001);
      assert.equal(disconnect.event.requestContext.disconnectReason, 'Going away');
    });

    it('closes a busy connection with 1001 at the maximum connection duration', async () => {
      // The idle timeout is far off, so only the maximum duration can close it, traffic or not.
      const short = await start({ limits: { maxConnectionMs: 600, idleTimeoutMs: 60_000 } });
      const opened = Date.now();
      const client = await open(`${short.url}?token=user:jack`);
      // Traffic every 100 ms: a busy connection is closed at the maximum duration all the same.
      const ticker = setInterval(() => {
        if (client.ws.readyState === WebSocket.OPEN) client.send({ action: 'quiet' });
      }, 100);

      const closed = await client.closed;
      clearInterval(ticker);

      assert.equal(closed.code, 1001);
      assert.ok(Date.now() - opened >= 590, 'not before the maximum duration');
    });

    it('sends $disconnect with the status code and reason of a client close', async () => {
      const client = await open(`${gateway.url}?token=user:kate`);
      const id = gateway.connections().find((c) => c.principal === 'kate')?.id ?? '';

      await client.close(4000, 'bye');
      const disconnect = await waitFor(() => disconnectsOf(id)[0], '$disconnect');

      assert.equal(disconnect.event.requestContext.routeKey, '$disconnect');
      assert.equal(disconnect.event.requestContext.disconnectStatusCode, 4000);
      assert.equal(disconnect.event.requestContext.disconnectReason, 'bye');
      assert.equal(
        disconnect.event.requestContext.connectedAt <= disconnect.event.requestContext.requestTimeEpoch,
        true,
      );
    });

    it('closes every connection with $disconnect when the gateway closes', async () => {
      const closing = await start();
      const client = await open(`${closing.url}?token=user:liam`);
      const id = closing.connections()[0]?.id ?? '';

      await closing.close();

      assert.equal((await client.closed).code, 1001);
      assert.equal(disconnectsOf(id)[0]?.event.requestContext.disconnectStatusCode, 1001);
    });
  });

  it('fails with a PortInUseError naming the port when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const error = await errorOf(start({ port }));

      assert.ok(error instanceof PortInUseError);
      assert.equal(error.code, 'PORT_IN_USE');
      assert.equal(error.port, port);
      assert.match(error.message, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
