/**
 * One HTTP endpoint for every AWS SDK client of the local runtime, so a single
 * `AWS_ENDPOINT_URL` serves them all:
 * - `X-Amz-Target: DynamoDB_20120810.*` (and DynamoDB Streams) is proxied to the DynamoDB engine,
 *   body and headers as-is, except that item and query operations are asked for their consumed
 *   capacity, which is counted (see `DynamoCapacity`) and taken out of the answer again unless the
 *   caller asked for it;
 * - `X-Amz-Target: AmazonSQS.*` (awsJson1_0, what @aws-sdk/client-sqs sends) goes to the SQS emulator;
 * - form-encoded awsQuery requests (what @aws-sdk/client-sns and the AWS CLI send for SNS) go to the
 *   SNS emulator, which invokes Lambda subscribers asynchronously.
 * Signatures are not checked: any credentials work. With `access` (strict IAM), a request signed
 * with the access key of a caller it names is authorized against that caller's policies first and
 * refused as AWS refuses it (DynamoDB 400 AccessDeniedException, SNS 403 AuthorizationError, SQS 403
 * AccessDenied); requests signed with other keys are not checked.
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AccessEvaluator, type CallerIdentity, denialMessage } from '../access-policy.ts';
import type { Invoke, TopicSpec } from '../topology.ts';
import { dynamoAccessRequests, snsAccessRequests, sqsAccessRequests } from './access-requests.ts';
import { AsyncInvoker } from './async-invoker.ts';
import { PortInUseError } from './errors.ts';
import { QueryParams, queryErrorResponse } from './query-protocol.ts';
import { SnsEmulator, type SnsLocalControls, type SnsRequestCounts } from './sns.ts';
import { SqsEmulator } from './sqs.ts';

/** Options of `startAwsEndpoint`. */
export interface AwsEndpointOptions {
  /** Interface to bind. @default '127.0.0.1' */
  readonly host?: string;
  /** Port to bind; 0 picks a free one. */
  readonly port: number;
  readonly region: string;
  readonly accountId: string;
  /** URL of the DynamoDB engine (DynamoDB Local or dynalite) that DynamoDB requests are proxied to. */
  readonly dynamoEndpoint: string;
  /** Topics existing from the start, with their Lambda subscriptions. */
  readonly topics: readonly TopicSpec[];
  /** Queues existing from the start (dead-letter queues of subscriptions must be among them). */
  readonly queues: readonly string[];
  /** Runs a function; SNS deliveries call it asynchronously. */
  readonly invoke: Invoke;
  /**
   * Delay before each retry of a failed asynchronous invocation. The default is AWS's: 1 minute,
   * then 2; tests pass shorter ones (e.g. `[100, 200]`). Its length caps the retries.
   * @default [60000, 120000]
   */
  readonly retryDelaysMs?: readonly number[];
  /** Receives one line per notable event (failed invocations, dead letters, proxy errors). */
  readonly log?: (line: string) => void;
  /** Strict IAM: the callers whose requests are authorized against their policies. @default - nothing is checked */
  readonly access?: AccessEvaluator;
}

/** Errors injected into DynamoDB requests, for fault tests (`AwsEndpoint.setDynamoFaults`). */
export interface DynamoFaults {
  /** Share of requests (0 to 1) answered with `errorType` instead of reaching the engine. @default 0 */
  readonly errorRate?: number;
  /**
   * The error DynamoDB answers: `InternalServerError` (500) or a throttling error (400); the SDK
   * retries all three. @default 'InternalServerError'
   */
  readonly errorType?:
    | 'InternalServerError'
    | 'ProvisionedThroughputExceededException'
    | 'ThrottlingException';
}

/** Counters of the endpoint, for tests and the developer console. */
export interface AwsEndpointStats {
  /** Messages accepted by SNS (Publish, and each successful PublishBatch entry). */
  readonly published: number;
  /** Asynchronous invocation attempts, retries included. */
  readonly invocations: number;
  /** Invocation attempts that failed. */
  readonly failedInvocations: number;
  /** Events sent to a dead-letter queue after their retries. */
  readonly deadLettered: number;
  /** Events dropped after their retries (no dead-letter queue, or it refused them). */
  readonly dropped: number;
  /** DynamoDB requests passed through, by operation (`PutItem`, `Query`, …). */
  readonly dynamoRequests: Readonly<Record<string, number>>;
  /** DynamoDB requests answered with an injected error (see `setDynamoFaults`). */
  readonly dynamoFaultsInjected: number;
  /** Read and write units the DynamoDB engine reported for them (what on-demand tables bill). */
  readonly dynamoCapacity: DynamoCapacity;
  /** SNS Publish and PublishBatch requests, and the requests AWS would bill for them. */
  readonly snsRequests: SnsRequestCounts;
}

/** Capacity units consumed, as the DynamoDB engine reported them (`ReturnConsumedCapacity: 'TOTAL'`). */
export interface DynamoCapacity {
  /** Read units (request units on an on-demand table) of GetItem, Query, Scan, BatchGetItem, TransactGetItems. */
  readonly readUnits: number;
  /** Write units of PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems. */
  readonly writeUnits: number;
  /** Units by operation (`{ Query: 12, PutItem: 10 }`). */
  readonly unitsByOperation: Readonly<Record<string, number>>;
  /**
   * Requests answered with an error, by operation and error (`PutItem ConditionalCheckFailedException`).
   * The engine reports no capacity for them, but AWS bills a failed conditional write (at least 1 unit).
   */
  readonly failedRequests: Readonly<Record<string, number>>;
}

/** A running AWS endpoint. */
export interface AwsEndpoint {
  /** `http://host:port`, the value for `AWS_ENDPOINT_URL` or an SDK client's `endpoint`. */
  readonly url: string;
  readonly port: number;
  /** ARN of a topic by name. */
  topicArn(name: string): string;
  /** URL of a queue by name. */
  queueUrl(name: string): string;
  stats(): AwsEndpointStats;
  /** Local-only controls of SNS for tests: recorded mobile pushes, disabling an endpoint. */
  readonly sns: SnsLocalControls;
  /** Sets (or, with `{}`, clears) the errors injected into DynamoDB requests. */
  setDynamoFaults(faults: DynamoFaults): void;
  /** Resolves when no asynchronous invocation or retry is pending; rejects with `IdleTimeoutError` after `timeoutMs`. */
  idle(timeoutMs?: number): Promise<void>;
  /** Stops accepting requests, cancels pending retries, ends long polls and closes the server. */
  close(): Promise<void>;
}

/** Lambda retries a failed asynchronous invocation twice: about 1 minute, then 2 minutes later. */
const LAMBDA_RETRY_DELAYS_MS: readonly number[] = [60_000, 120_000];
/** Largest SNS/SQS request body accepted (a 256 KB message, URL-encoded, in a batch of 10, fits). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** How long close() lets in-flight requests finish before cutting their connections. */
const CLOSE_GRACE_MS = 2000;
const SNS_XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
/** DynamoDB operations that take `ReturnConsumedCapacity`, and which kind of unit each consumes. */
const CAPACITY_OPERATIONS: Readonly<Record<string, 'read' | 'write'>> = {
  GetItem: 'read',
  Query: 'read',
  Scan: 'read',
  BatchGetItem: 'read',
  TransactGetItems: 'read',
  PutItem: 'write',
  UpdateItem: 'write',
  DeleteItem: 'write',
  BatchWriteItem: 'write',
  TransactWriteItems: 'write',
};
const SQS_QUERY_ACTIONS = new Set([
  'CreateQueue',
  'GetQueueUrl',
  'SendMessage',
  'SendMessageBatch',
  'ReceiveMessage',
  'DeleteMessage',
  'DeleteMessageBatch',
  'GetQueueAttributes',
  'PurgeQueue',
  'ListQueues',
]);

class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  readonly code = 'BODY_TOO_LARGE';
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLargeError(`request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  requestId: string,
): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': requestId,
  });
  res.end(body);
}

/** Units in a `ConsumedCapacity` answer: one object, or one per table (batch and transaction operations). */
function consumedUnits(consumed: unknown): number {
  const entries = Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed];
  let units = 0;
  for (const entry of entries) {
    const value = (entry as { CapacityUnits?: unknown } | null)?.CapacityUnits;
    if (typeof value === 'number') units += value;
  }
  return units;
}

/** A request body as an object for authorization; what is not a JSON object authorizes as empty. */
function parseJson(raw: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts the endpoint; resolves once it listens. Throws `PortInUseError` when the port is taken. */
export async function startAwsEndpoint(options: AwsEndpointOptions): Promise<AwsEndpoint> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  const access = options.access;
  const scope = { region: options.region, accountId: options.accountId };
  let baseUrl = '';
  const dynamo = new URL(options.dynamoEndpoint);
  const dynamoAgent = new Agent({ keepAlive: true, maxSockets: 64 });

  const sqs = new SqsEmulator({
    region: options.region,
    accountId: options.accountId,
    baseUrl: () => baseUrl,
  });
  for (const name of options.queues) sqs.createQueue(name);
  const invoker = new AsyncInvoker({
    invoke: options.invoke,
    retryDelaysMs: options.retryDelaysMs ?? LAMBDA_RETRY_DELAYS_MS,
    // Dead letters and on-failure destination records alike.
    deadLetter: (queue, body, attributes) => {
      sqs.sendMessage(queue, body, attributes);
    },
    log,
  });
  const sns = new SnsEmulator({
    region: options.region,
    accountId: options.accountId,
    baseUrl: () => baseUrl,
    topics: options.topics,
    hasQueue: (name) => sqs.hasQueue(name),
    deliver: (delivery) => invoker.submit(delivery),
    sendToQueue: (queueName, body, attributes) => {
      try {
        sqs.sendMessage(queueName, body, attributes);
      } catch {
        // The queue is gone or refused the message: SNS drops it too (no redrive policy here).
      }
    },
  });

  const dynamoRequests: Record<string, number> = {};
  let dynamoFaults: DynamoFaults = {};
  let dynamoFaultsInjected = 0;
  const capacity = {
    readUnits: 0,
    writeUnits: 0,
    unitsByOperation: {} as Record<string, number>,
    failedRequests: {} as Record<string, number>,
  };

  /**
   * Proxies an item or query operation with `ReturnConsumedCapacity: 'TOTAL'` added (unless the
   * caller asked for capacity itself), counts the units the engine reports, and answers the caller
   * what it asked for: the injected `ConsumedCapacity` is removed, and with it the body's CRC32
   * header, which no longer matches.
   */
  async function proxyCountingCapacity(
    operation: string,
    kind: 'read' | 'write',
    req: IncomingMessage,
    res: ServerResponse,
    read?: Buffer,
  ): Promise<void> {
    const raw = read ?? (await readBody(req));
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    } catch {
      // Not JSON: the engine answers it as it would answer the caller.
      forwardToDynamo(req, raw, res, undefined);
      return;
    }
    const asked = body.ReturnConsumedCapacity;
    const injected = asked === undefined || asked === 'NONE';
    if (injected) body.ReturnConsumedCapacity = 'TOTAL';
    forwardToDynamo(req, Buffer.from(JSON.stringify(body)), res, (status, answer) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(answer.toString('utf8')) as Record<string, unknown>;
      } catch {
        log(`[aws] DynamoDB ${operation}: the engine's answer is not JSON; its capacity is not counted`);
        return undefined;
      }
      if (status >= 400) {
        const type = typeof parsed.__type === 'string' ? parsed.__type.split('#').pop() : 'Error';
        const key = `${operation} ${type}`;
        capacity.failedRequests[key] = (capacity.failedRequests[key] ?? 0) + 1;
        return undefined;
      }
      const units = consumedUnits(parsed.ConsumedCapacity);
      if (kind === 'read') capacity.readUnits += units;
      else capacity.writeUnits += units;
      capacity.unitsByOperation[operation] = (capacity.unitsByOperation[operation] ?? 0) + units;
      if (!injected) return undefined;
      delete parsed.ConsumedCapacity;
      return Buffer.from(JSON.stringify(parsed));
    });
  }

  /**
   * Sends `body` to the engine. Without `rewrite` the answer is piped back as it comes; with it the
   * answer is read whole, and a body `rewrite` returns replaces it (undefined keeps it as it is).
   */
  function forwardToDynamo(
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
    rewrite: ((status: number, answer: Buffer) => Buffer | undefined) | undefined,
  ): void {
    const headers = { ...req.headers, host: dynamo.host, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    // An answer to be read and rewritten must come as plain JSON, not compressed.
    if (rewrite !== undefined) delete headers['accept-encoding'];
    const upstream = request(
      {
        protocol: dynamo.protocol,
        hostname: dynamo.hostname,
        port: dynamo.port,
        method: req.method,
        path: req.url,
        headers,
        agent: dynamoAgent,
      },
      (upstreamRes) => {
        const status = upstreamRes.statusCode ?? 502;
        if (rewrite === undefined) {
          res.writeHead(status, upstreamRes.headers);
          upstreamRes.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        upstreamRes.on('data', (chunk: Buffer) => chunks.push(chunk));
        upstreamRes.on('error', (error) => res.destroy(error));
        upstreamRes.on('end', () => {
          const answer = Buffer.concat(chunks);
          const replaced = rewrite(status, answer);
          const headers = { ...upstreamRes.headers };
          if (replaced !== undefined) {
            delete headers['x-amz-crc32'];
            delete headers['transfer-encoding'];
            headers['content-length'] = String(replaced.length);
          }
          res.writeHead(status, headers);
          res.end(replaced ?? answer);
        });
      },
    );
    upstream.on('error', (error) => answerEngineFailure(res, error));
    upstream.end(body);
  }

  /** Answers an injected error once the request is read, as DynamoDB does, without calling the engine. */
  function answerInjectedFault(
    req: IncomingMessage,
    res: ServerResponse,
    errorType: NonNullable<DynamoFaults['errorType']>,
    bodyRead = false,
  ): void {
    dynamoFaultsInjected += 1;
    const answer = () =>
      send(
        res,
        errorType === 'InternalServerError' ? 500 : 400,
        'application/x-amz-json-1.0',
        JSON.stringify({
          __type: `com.amazonaws.dynamodb.v20120810#${errorType}`,
          message: 'Injected fault (local runtime)',
        }),
        randomUUID(),
      );
    if (bodyRead) {
      answer();
      return;
    }
    req.resume();
    req.on('end', answer);
  }

  function answerEngineFailure(res: ServerResponse, error: Error): void {
    log(`[aws] DynamoDB engine at ${options.dynamoEndpoint} failed: ${error.message}`);
    if (!res.headersSent) {
      send(
        res,
        500,
        'application/x-amz-json-1.0',
        JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
          message: `Local DynamoDB engine at ${options.dynamoEndpoint} is unreachable: ${error.message}`,
        }),
        randomUUID(),
      );
    } else {
      res.destroy(error);
    }
  }

  function proxyToDynamo(req: IncomingMessage, res: ServerResponse): void {
    const upstream = request(
      {
        protocol: dynamo.protocol,
        hostname: dynamo.hostname,
        port: dynamo.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: dynamo.host },
        agent: dynamoAgent,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstream.on('error', (error) => answerEngineFailure(res, error));
    req.pipe(upstream);
  }

  async function handleSqs(
    operation: string,
    req: IncomingMessage,
    res: ServerResponse,
    caller: CallerIdentity | undefined,
  ): Promise<void> {
    const body = (await readBody(req)).toString('utf8');
    const denial =
      caller === undefined
        ? undefined
        : access?.check(caller, sqsAccessRequests(operation, parseJson(Buffer.from(body)), scope));
    if (denial !== undefined) {
      // SQS writes the action in lower case in its message; the SDK names the error after x-amzn-query-error.
      const json = JSON.stringify({
        __type: 'com.amazon.coral.service#AccessDeniedException',
        message: denialMessage(denial, denial.action.toLowerCase()),
      });
      res.writeHead(403, {
        'x-amzn-query-error': 'AccessDenied;Sender',
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(json),
        'x-amzn-requestid': randomUUID(),
      });
      res.end(json);
      return;
    }
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const result = await sqs.handle(operation, body, abort.signal);
    if (abort.signal.aborted) return;
    const json = JSON.stringify(result.body);
    res.writeHead(result.status, {
      ...result.headers,
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(json),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(json);
  }

  async function handleQuery(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = (await readBody(req)).toString('utf8');
    const params = new URLSearchParams(new URL(req.url ?? '/', 'http://local').search);
    for (const [key, value] of new URLSearchParams(body)) params.set(key, value);
    const query = new QueryParams(params);
    const action = query.get('Action') ?? '';
    const requestId = randomUUID();
    if (query.get('Version') === '2012-11-05' || SQS_QUERY_ACTIONS.has(action)) {
      // Old SDKs and CLIs spoke awsQuery to SQS; the installed SDK speaks JSON, which is what is emulated.
      send(
        res,
        400,
        'text/xml',
        queryErrorResponse(
          SNS_XMLNS,
          'Sender',
          'InvalidAction',
          `SQS ${action} over the awsQuery protocol is not emulated locally; use a client version that speaks SQS's JSON protocol (X-Amz-Target: AmazonSQS.*).`,
          requestId,
        ),
        requestId,
      );
      return;
    }
    const caller = access?.callerOf(req.headers.authorization);
    const denial = caller === undefined ? undefined : access?.check(caller, snsAccessRequests(query, scope));
    if (denial !== undefined) {
      // SNS writes the service prefix in capitals in its message (`SNS:Publish`).
      const shown = denial.action.replace(/^sns:/, 'SNS:');
      send(
        res,
        403,
        'text/xml',
        queryErrorResponse(
          SNS_XMLNS,
          'Sender',
          'AuthorizationError',
          denialMessage(denial, shown),
          requestId,
        ),
        requestId,
      );
      return;
    }
    const result = sns.handle(query, requestId);
    send(res, result.status, 'text/xml', result.xml, requestId);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers['x-amz-target'];
    const targetValue = Array.isArray(target) ? target[0] : target;
    if (
      targetValue?.startsWith('DynamoDB_20120810.') ||
      targetValue?.startsWith('DynamoDBStreams_20120810.')
    ) {
      const operation = targetValue.slice(targetValue.indexOf('.') + 1);
      dynamoRequests[operation] = (dynamoRequests[operation] ?? 0) + 1;
      const kind = targetValue.startsWith('DynamoDB_') ? CAPACITY_OPERATIONS[operation] : undefined;
      const caller = targetValue.startsWith('DynamoDB_')
        ? access?.callerOf(req.headers.authorization)
        : undefined;
      if (caller !== undefined) {
        // Strict IAM needs the body to know the tables; the request is read whole first. AWS
        // authorizes before anything else, so a denial comes before an injected fault.
        const raw = await readBody(req);
        const denial = access?.check(caller, dynamoAccessRequests(operation, parseJson(raw), scope));
        if (denial !== undefined) {
          send(
            res,
            400,
            'application/x-amz-json-1.0',
            JSON.stringify({
              __type: 'com.amazon.coral.service#AccessDeniedException',
              Message: denialMessage(denial),
            }),
            randomUUID(),
          );
          return;
        }
        if (Math.random() < (dynamoFaults.errorRate ?? 0)) {
          answerInjectedFault(req, res, dynamoFaults.errorType ?? 'InternalServerError', true);
          return;
        }
        if (kind === undefined) forwardToDynamo(req, raw, res, undefined);
        else await proxyCountingCapacity(operation, kind, req, res, raw);
        return;
      }
      if (Math.random() < (dynamoFaults.errorRate ?? 0)) {
        answerInjectedFault(req, res, dynamoFaults.errorType ?? 'InternalServerError');
        return;
      }
      if (kind === undefined) proxyToDynamo(req, res);
      else await proxyCountingCapacity(operation, kind, req, res);
      return;
    }
    if (targetValue?.startsWith('AmazonSQS.')) {
      await handleSqs(
        targetValue.slice('AmazonSQS.'.length),
        req,
        res,
        access?.callerOf(req.headers.authorization),
      );
      return;
    }
    const contentType = req.headers['content-type'] ?? '';
    const hasQueryAction = /[?&]Action=/.test(req.url ?? '');
    if (contentType.startsWith('application/x-www-form-urlencoded') || hasQueryAction) {
      await handleQuery(req, res);
      return;
    }
    if (req.method === 'GET' && (req.url === '/' || req.url === '/health')) {
      send(
        res,
        200,
        'application/json',
        JSON.stringify({ status: 'ok', services: ['dynamodb', 'sns', 'sqs'] }),
        randomUUID(),
      );
      return;
    }
    req.resume();
    send(
      res,
      404,
      'application/json',
      JSON.stringify({
        message:
          'Not an AWS request this endpoint serves (DynamoDB and SQS by X-Amz-Target, SNS by form-encoded Action).',
      }),
      randomUUID(),
    );
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const tooLarge = error instanceof BodyTooLargeError;
      if (!tooLarge)
        log(`[aws] ${req.method} ${req.url} failed: ${error instanceof Error ? error.stack : String(error)}`);
      if (!res.headersSent) {
        send(
          res,
          tooLarge ? 413 : 500,
          'application/json',
          JSON.stringify({ message: error instanceof Error ? error.message : 'internal error' }),
          randomUUID(),
        );
      }
    });
  });
  server.on('clientError', (_error, socket) => {
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      dynamoAgent.destroy();
      reject(
        error.code === 'EADDRINUSE'
          ? new PortInUseError(host, options.port, 'AWS endpoint', { cause: error })
          : error,
      );
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(options.port, host);
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://${hostForUrl(host)}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url: baseUrl,
    port,
    topicArn: (name) => sns.topicArn(name),
    queueUrl: (name) => sqs.queueUrl(name),
    stats: () => ({
      published: sns.published(),
      ...invoker.stats(),
      dynamoRequests: { ...dynamoRequests },
      dynamoCapacity: {
        readUnits: capacity.readUnits,
        writeUnits: capacity.writeUnits,
        unitsByOperation: { ...capacity.unitsByOperation },
        failedRequests: { ...capacity.failedRequests },
      },
      snsRequests: sns.requestCounts(),
      dynamoFaultsInjected,
    }),
    sns,
    setDynamoFaults: (faults) => {
      const rate = faults.errorRate ?? 0;
      if (!(rate >= 0 && rate <= 1)) throw new RangeError('errorRate must be from 0 to 1.');
      dynamoFaults = { ...faults };
    },
    idle: (timeoutMs = 30_000) => invoker.idle(timeoutMs),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        invoker.close();
        sqs.close();
        const grace = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close(() => {
          clearTimeout(grace);
          dynamoAgent.destroy();
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
