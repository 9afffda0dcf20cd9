import { createServer } from 'node:net';
import {
  type AccessDenial,
  AccessEvaluator,
  type CallerIdentity,
  denialMessage,
} from '../emulator/access-policy.ts';
import { createTables, startDynamo } from '../emulator/aws/dynamodb.ts';
import { type AwsEndpoint, type DynamoFaults, startAwsEndpoint } from '../emulator/aws/endpoint.ts';
import {
  type Gateway,
  type SimulatedConnectionsControl,
  stableApiId,
  startGateway,
} from '../emulator/gateway/gateway.ts';
import { type FunctionFaults, LambdaRuntime } from '../emulator/lambda/lambda-runtime.ts';
import {
  type LocalAddresses,
  outputsFromTemplate,
  rolePoliciesFromTemplate,
  topologyFromTemplate,
} from '../emulator/template-topology.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION, type Topology } from '../emulator/topology.ts';
import type { ManagementClient } from '../functions/shared/management-client.ts';
import { createLocalPlatformApplications, localMobilePushContext } from './mobile-push.ts';
import type { LocalOutputs } from './outputs.ts';
import { localizeTopology, PUSHLINE_TEMPLATE_OPTIONS, pushlineTemplate } from './pushline-template.ts';
import { mintLocalToken } from './tokens.ts';

/** Options of {@link startLocalStack}; every port 0 picks a free one. */
export interface LocalStackOptions {
  readonly ports?: { readonly gateway?: number; readonly aws?: number; readonly console?: number };
  readonly host?: string;
  /** API Gateway's idle timeout (10 minutes on AWS). */
  readonly idleTimeoutMs?: number;
  /** API Gateway's maximum connection duration (2 hours on AWS). */
  readonly maxConnectionMs?: number;
  /** @default PUSHLINE_DYNAMO from the environment, else 'auto' */
  readonly dynamo?: 'auto' | 'dynamodb-local' | 'dynalite';
  /** Delays of Lambda's asynchronous retries. @default [60000, 120000] (AWS's 1 and 2 minutes) */
  readonly retryDelaysMs?: readonly number[];
  readonly deliveryConcurrency?: number;
  /** How the deliver, fanout and message functions call the management API (PUSHLINE_MANAGEMENT_CLIENT). */
  readonly managementClient?: ManagementClient;
  /**
   * CDK context of the synthesized stack, as `cdk deploy -c key=value` gives it (e.g.
   * `{ presenceTopics: 'room.*' }`): see PushlineSettings in infra/pushline-stack.ts. With
   * `mobilePushTypes` and no `mobilePushApplications`, local platform applications are named and
   * created (local/mobile-push.ts).
   */
  readonly context?: Record<string, string>;
  /** Holds each `$connect` open this long before the handshake completes (see GatewayFaults). @default 0 */
  readonly connectHoldMs?: number;
  /** Serve the message-center page. @default true */
  readonly console?: boolean;
  /**
   * Keep the tables (inboxes, preferences, devices, connection rows) in files under this folder,
   * so a restart finds them. Queues and subscriptions stay in memory. @default in memory
   */
  readonly persistDir?: string;
  /** Pick up a changed handler (any file under the functions' folders) without a restart. @default false */
  readonly reloadOnChange?: boolean;
  /**
   * Strict IAM: each function signs with its own access key, and its calls to DynamoDB, SNS, SQS and
   * the management API are authorized against its role's policies in the template, refused with
   * AccessDenied as on AWS when no statement allows them (docs/local-runtime.md). @default false
   */
  readonly strictIam?: boolean;
  /**
   * With `strictIam`, actions taken out of a function's Allow statements (by function name, exact
   * action names such as `dynamodb:PutItem`), to see how a missing grant fails. @default none
   */
  readonly revokeGrants?: Readonly<Record<string, readonly string[]>>;
  /** Only warnings and errors reach the log (strict IAM's denials are among them). */
  readonly quiet?: boolean;
  readonly log?: (line: string) => void;
}

/** Topics the message-center page's tokens grant (`room.*` are presence topics under `npm start`). */
export const LOCAL_CONSOLE_TOPICS = ['news', 'news.*', 'room.*'];

/** CDK context `npm start` synthesizes its stack with: the demo's presence topics. */
export const LOCAL_DEMO_CONTEXT = { presenceTopics: 'room.*' };

/** A running local stack. */
export interface LocalStack {
  readonly outputs: LocalOutputs;
  readonly topology: Topology;
  /** Fault knobs on the management API (for tests and benchmarks). */
  setFaults(faults: { latencyMs?: number; errorRate?: number; errorStatus?: 429 | 500 }): void;
  /** Fault knob on DynamoDB: a share of table requests answered with an error (see `DynamoFaults`). */
  setTableFaults(faults: DynamoFaults): void;
  /** Fault knob on a function (by its name in the topology): crashes part way through invocations. */
  setFunctionFaults(name: string, faults: FunctionFaults): void;
  /** Invokes a function directly, as Lambda's Invoke API would (tests use it to replay events). */
  invoke(functionName: string, event: unknown): Promise<unknown>;
  /** Ids of the connections the WebSocket emulator holds open. */
  connectionIds(): string[];
  /** Local only: the gateway's simulated connections, ids whose posts are counted (docs/local-runtime.md). */
  readonly simulatedConnections: SimulatedConnectionsControl;
  /** Function statistics (invocations, busy time, billed duration and GB-seconds) from the Lambda runtime. */
  functionStats(name: string): ReturnType<LambdaRuntime['stats']>;
  /**
   * Counters of the AWS endpoint (SNS messages and billed requests, invocations, DynamoDB requests
   * by operation and the capacity units they consumed).
   */
  awsStats(): ReturnType<AwsEndpoint['stats']>;
  /** The gateway's billed messages (posts, client messages) and connection minutes. */
  gatewayStats(): ReturnType<Gateway['stats']>;
  /** Local-only SNS controls: mobile pushes recorded instead of sent, disabling an endpoint. */
  readonly sns: AwsEndpoint['sns'];
  /** Calls strict IAM refused so far, oldest first (the last 1,000); always empty without `strictIam`. */
  accessDenials(): readonly AccessDenial[];
  /** Resolves when no asynchronous invocation is pending (bounded by `timeoutMs`). */
  idle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts DynamoDB, the AWS endpoint (SNS, SQS, DynamoDB), the Lambda runtime running Pushline's
 * handlers unchanged, the API Gateway WebSocket emulator and the message-center page.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((line: string) => console.log(line));
  const quietLog = options.quiet ? () => {} : log;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const close of stops.reverse())
      await close().catch((error) => log(`stop: ${(error as Error).message}`));
    stops.length = 0;
  };

  try {
    // Free ports are held until their server binds them, so nothing started meanwhile (DynamoDB
    // Local picks a free port of its own) can be handed the same one.
    const gatewayReservation = await reservePort(options.ports?.gateway ?? 0, host);
    stops.push(() => gatewayReservation.release());
    const awsReservation = await reservePort(options.ports?.aws ?? 0, host);
    stops.push(() => awsReservation.release());
    const gatewayPort = gatewayReservation.port;
    const awsPort = awsReservation.port;
    const awsUrl = `http://${host}:${awsPort}`;
    const addresses: LocalAddresses = {
      callbackUrl: (_api, stage) => `http://${host}:${gatewayPort}/${stage}`,
      webSocketUrl: (_api, stage) => `ws://${host}:${gatewayPort}/${stage}`,
      topicArn: (name) => `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${name}`,
      queueUrl: (name) => `${awsUrl}/${LOCAL_ACCOUNT}/${name}`,
    };
    // The infrastructure code is the single source of truth: routes, functions and their
    // environment, tables, topics and queues all come from the synthesized template.
    const context = localMobilePushContext(options.context, LOCAL_REGION, LOCAL_ACCOUNT);
    const template = await pushlineTemplate(quietLog, context);
    const topology = localizeTopology(topologyFromTemplate(template, addresses, PUSHLINE_TEMPLATE_OPTIONS), {
      deliveryConcurrency: options.deliveryConcurrency,
      managementClient: options.managementClient,
    });
    const templateOutputs = outputsFromTemplate(template, addresses, PUSHLINE_TEMPLATE_OPTIONS);
    const denials: AccessDenial[] = [];
    const onDenial = (denial: AccessDenial) => {
      if (denials.push(denial) > MAX_DENIALS_KEPT) denials.shift();
      log(`[iam] AccessDenied: ${denialMessage(denial)}`);
    };
    const strict = options.strictIam
      ? strictIam(template, addresses, options.revokeGrants ?? {}, topology, onDenial)
      : undefined;
    const functions = strict?.functions ?? topology.functions;

    const dynamo = await startDynamo({
      engine: options.dynamo ?? dynamoFromEnvironment(),
      log: quietLog,
      dataDir: options.persistDir,
    });
    stops.push(() => dynamo.close());
    await createTables(dynamo.endpoint, topology.tables, LOCAL_REGION);

    const runtime = new LambdaRuntime({
      functions,
      baseEnvironment: {
        AWS_REGION: LOCAL_REGION,
        AWS_DEFAULT_REGION: LOCAL_REGION,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL: awsUrl,
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: options.quiet ? 'WARN' : 'INFO',
        // Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      log: quietLog,
      reloadOnChange: options.reloadOnChange,
    });
    stops.push(() => runtime.close());
    // Cold starts run while the other services start, so the first connections find warm functions.
    const warming = runtime.warm();

    await awsReservation.release();
    const aws = await startAwsEndpoint({
      host,
      port: awsPort,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      dynamoEndpoint: dynamo.endpoint,
      topics: topology.topics,
      queues: topology.queues,
      invoke: runtime.invoke,
      retryDelaysMs: options.retryDelaysMs,
      log: quietLog,
      ...(strict ? { access: strict.access } : {}),
    });
    stops.push(() => aws.close());
    // Mobile push: the platform applications the template names exist on the local SNS.
    await createLocalPlatformApplications(topology, awsUrl, LOCAL_REGION);

    const api = topology.webSocketApis[0];
    if (!api) throw new Error('The topology has no WebSocket API.');
    await gatewayReservation.release();
    const gateway = await startGateway({
      api,
      invoke: runtime.invoke,
      host,
      port: gatewayPort,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      limits: { idleTimeoutMs: options.idleTimeoutMs, maxConnectionMs: options.maxConnectionMs },
      faults: { connectHoldMs: options.connectHoldMs },
      log: quietLog,
      ...(strict ? { access: strict.access } : {}),
    });
    stops.push(() => gateway.close());

    await warming;

    let consoleUrl: string | undefined;
    if (options.console ?? true) {
      consoleUrl = await startConsoleIfPresent(
        {
          host,
          port: options.ports?.console ?? 0,
          webSocketUrl: gateway.url,
          awsUrl,
          topicArn: required(templateOutputs, 'TopicArn'),
          log: quietLog,
        },
        stops,
      );
    }

    const outputs: LocalOutputs = {
      WebSocketUrl: gateway.url,
      TopicArn: required(templateOutputs, 'TopicArn'),
      ...(templateOutputs.InboundTopicArn ? { InboundTopicArn: templateOutputs.InboundTopicArn } : {}),
      ...(templateOutputs.EventsTopicArn ? { EventsTopicArn: templateOutputs.EventsTopicArn } : {}),
      TableName: required(templateOutputs, 'TableName'),
      Region: LOCAL_REGION,
      AwsEndpointUrl: awsUrl,
      CallbackUrl: gateway.callbackUrl,
      RejectedQueueUrl: required(templateOutputs, 'RejectedQueueUrl'),
      DeadLetterQueueUrl: required(templateOutputs, 'DeadLetterQueueUrl'),
      DynamoDbEngine: dynamo.engine,
      ...(consoleUrl ? { ConsoleUrl: consoleUrl } : {}),
    };
    return {
      outputs,
      topology,
      // The management API's faults change at run time; the $connect hold set at start stays.
      setFaults: (faults) => gateway.setFaults({ ...faults, connectHoldMs: options.connectHoldMs }),
      invoke: (functionName, event) => runtime.invoke(functionName, event),
      connectionIds: () => gateway.connections().map((connection) => connection.id),
      simulatedConnections: gateway.simulated,
      setTableFaults: (faults) => aws.setDynamoFaults(faults),
      setFunctionFaults: (name, faults) => runtime.setFaults(name, faults),
      functionStats: (name) => runtime.stats(name),
      awsStats: () => aws.stats(),
      gatewayStats: () => gateway.stats(),
      sns: aws.sns,
      accessDenials: () => [...denials],
      idle: (timeoutMs = 10_000) => aws.idle(timeoutMs),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** How many of strict IAM's denials `accessDenials()` keeps. */
const MAX_DENIALS_KEPT = 1000;

/**
 * Access key id a function signs with under strict IAM; the AWS endpoint and gateway know it by it.
 * Letters and digits only: DynamoDB Local refuses any other key as UnrecognizedClientException.
 */
export function functionAccessKeyId(functionName: string): string {
  return `localfn${functionName.replace(/[^A-Za-z0-9]/g, '')}`;
}

/**
 * Strict IAM: the functions with their own access keys, and the evaluator that knows each key's
 * role policies from the template (with `revoke`'s actions taken out of their Allow statements).
 */
function strictIam(
  template: object,
  addresses: LocalAddresses,
  revoke: Readonly<Record<string, readonly string[]>>,
  topology: Topology,
  onDenial: (denial: AccessDenial) => void,
): { functions: Topology['functions']; access: AccessEvaluator } {
  const identities = rolePoliciesFromTemplate(
    template,
    { ...addresses, apiId: stableApiId },
    PUSHLINE_TEMPLATE_OPTIONS,
  );
  const callers: Record<string, CallerIdentity> = {};
  for (const [name, identity] of Object.entries(identities)) {
    const revoked = new Set((revoke[name] ?? []).map((action) => action.toLowerCase()));
    const key = functionAccessKeyId(name);
    if (callers[key] !== undefined) throw new Error(`Two functions would sign with access key ${key}.`);
    callers[key] = {
      ...identity,
      statements: identity.statements.map((statement) =>
        statement.effect === 'Allow' && statement.actions
          ? {
              ...statement,
              actions: statement.actions.filter((action) => !revoked.has(action.toLowerCase())),
            }
          : statement,
      ),
    };
  }
  for (const name of Object.keys(revoke)) {
    if (identities[name] === undefined)
      throw new Error(`revokeGrants names ${name}, which is not a function of the template.`);
  }
  return {
    functions: topology.functions.map((spec) => ({
      ...spec,
      environment: { ...spec.environment, AWS_ACCESS_KEY_ID: functionAccessKeyId(spec.name) },
    })),
    access: new AccessEvaluator({ accountId: LOCAL_ACCOUNT, callers, onDenial }),
  };
}

function required(outputs: Record<string, string>, key: string): string {
  const value = outputs[key];
  if (value === undefined)
    throw new Error(`The stack template has no output ${key}; the local stack needs it.`);
  return value;
}

/** A fixed port is used as given; 0 asks the OS for a free one now, so every URL is known up front. */
/** A port chosen now and held by a placeholder listener until `release()` (idempotent). */
export interface PortReservation {
  readonly port: number;
  release(): Promise<void>;
}

/**
 * A given port as it is (its server reports it if taken), or a free one for port 0, held until
 * released: the release comes right before the real server binds it.
 */
export async function reservePort(port: number, host: string): Promise<PortReservation> {
  if (port !== 0) return { port, release: async () => {} };
  const holder = createServer();
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    holder.listen(0, host, () => resolve());
  });
  const address = holder.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  let released: Promise<void> | undefined;
  return {
    port: address.port,
    release: () => {
      released ??= new Promise<void>((resolve) => holder.close(() => resolve()));
      return released;
    },
  };
}

async function startConsoleIfPresent(
  settings: {
    host: string;
    port: number;
    webSocketUrl: string;
    awsUrl: string;
    topicArn: string;
    log: (line: string) => void;
  },
  stops: (() => Promise<void>)[],
): Promise<string> {
  const [{ startConsole }, { Publisher }, { SNSClient }] = await Promise.all([
    import('./console/server.ts'),
    import('../publisher/index.ts'),
    import('@aws-sdk/client-sns'),
  ]);
  const client = new SNSClient({
    endpoint: settings.awsUrl,
    region: LOCAL_REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const publisher = new Publisher({ topicArn: settings.topicArn, client });
  const served = await startConsole({
    host: settings.host,
    port: settings.port,
    webSocketUrl: settings.webSocketUrl,
    publish: async ({ v: _version, ...message }) => ({ messageId: (await publisher.publish(message)).id }),
    // The page's users may join the demo topics: see LOCAL_CONSOLE_TOPICS.
    mintToken: (userId: string) => mintLocalToken(userId, { topics: LOCAL_CONSOLE_TOPICS }),
    log: settings.log,
  });
  stops.push(() => served.close());
  return served.url;
}

/** PUSHLINE_DYNAMO picks the engine for every stack a process starts (e.g. a test run on dynalite). */
function dynamoFromEnvironment(): 'auto' | 'dynamodb-local' | 'dynalite' {
  const value = process.env.PUSHLINE_DYNAMO;
  if (value === undefined || value === '') return 'auto';
  if (value === 'auto' || value === 'dynamodb-local' || value === 'dynalite') return value;
  throw new Error(`PUSHLINE_DYNAMO must be auto, dynamodb-local or dynalite, not '${value}'.`);
}
