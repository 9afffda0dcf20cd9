import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Arn, ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnApi,
  CfnAuthorizer,
  CfnRoute,
  LogGroupLogDestination,
  WebSocketApi,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { LambdaSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../functions/shared/environment.ts';
import {
  DEFAULT_SEND_RATE,
  DELIVER_TIMEOUT_SECONDS,
  FANOUT_TIMEOUT_SECONDS,
} from '../functions/shared/limits.ts';
import { DEFAULT_MANAGEMENT_CLIENT, type ManagementClient } from '../functions/shared/management-client.ts';
import {
  applicationsText,
  PUSH_PLATFORMS,
  type PushPlatform,
  parseApplications,
} from '../functions/shared/mobile-push.ts';
import { DEFAULT_CONNECTION_TTL_SECONDS, TABLE_SCHEMA } from '../functions/shared/table-schema.ts';
import {
  DEFAULT_TOPIC_CLAIM,
  SERVICE_NAME_PATTERN,
  topicPatternProblem,
} from '../functions/shared/topics.ts';
import { HANDLER, HANDLER_BUNDLING, HANDLER_FILE, type HandlerName } from './handler-bundling.ts';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FUNCTIONS_DIR = resolve(PROJECT_ROOT, 'functions');
/**
 * Where the handlers come from. The installed package runs this module as `dist/infra/pushline.js`,
 * with the handlers `npm run build` prebuilt beside it in `dist/handlers/<name>/`: those folders are
 * the code assets, and nothing is bundled in the user's app. A checkout runs `infra/pushline.ts`,
 * which has no `handlers/` folder beside `infra/`, and bundles `functions/<name>.ts` with esbuild at
 * synth (same settings, from ./handler-bundling.ts), so the tests and `cdk synth` see the sources.
 */
const PREBUILT_HANDLERS_DIR = resolve(PROJECT_ROOT, 'handlers');
const PREBUILT = existsSync(PREBUILT_HANDLERS_DIR);

/** A prebuilt handler's folder in the package; a missing bundle fails the synth with its path. */
function prebuiltHandlerDir(name: HandlerName): string {
  const dir = join(PREBUILT_HANDLERS_DIR, name);
  if (!existsSync(join(dir, HANDLER_FILE))) {
    throw new Error(
      `Pushline: the prebuilt handler ${join(dir, HANDLER_FILE)} is missing (npm run build makes it).`,
    );
  }
  return dir;
}

/** Tokens signed by an identity provider (Cognito, Auth0, …) and checked against its public keys. */
export interface PushlineJwksAuth {
  /** The provider's JWKS URL, e.g. `https://cognito-idp.{region}.amazonaws.com/{poolId}/.well-known/jwks.json`. */
  readonly jwksUrl: string;
  /** The expected `iss` claim. */
  readonly issuer: string;
  /** Accepted `aud` claims. @default - the audience is not checked */
  readonly audience?: string | readonly string[] /**
   * Accept tokens that carry no `exp` claim. Such a token never expires, so a leaked one works
   * forever; refused unless set. @default false
   */;
  readonly allowTokensWithoutExpiry?: boolean;
}

/** Tokens signed with HS256 and a shared secret kept in Secrets Manager. */
export interface PushlineSecretAuth {
  /** The secret holding the key (a string of at least 32 characters); the authorizer reads it at cold start. */
  readonly secret: secretsmanager.ISecret;
  /** The expected `iss` claim. @default - the issuer is not checked */
  readonly issuer?: string;
  /** Accepted `aud` claims. @default - the audience is not checked */
  readonly audience?: string | readonly string[] /**
   * Accept tokens that carry no `exp` claim. Such a token never expires, so a leaked one works
   * forever; refused unless set. @default false
   */;
  readonly allowTokensWithoutExpiry?: boolean;
}

/** How the `$connect` authorizer verifies tokens. */
export type PushlineAuth = PushlineJwksAuth | PushlineSecretAuth;

/**
 * Where clients may put their token on `$connect`.
 *
 * API Gateway refuses a request with 401 before calling the authorizer only when *every* identity
 * source is present, so a single authorizer cannot list both places. `QUERY_OR_PROTOCOL` therefore
 * declares no identity source: the authorizer runs on every `$connect` and answers 401 itself when
 * neither place holds a token.
 */
export enum TokenSource {
  /** `?token=…` or the `Sec-WebSocket-Protocol` header (browsers); no identity source. */
  QUERY_OR_PROTOCOL = 'query-or-protocol',
  /** `?token=…` only: identity source `route.request.querystring.token`. */
  QUERY = 'query',
  /** `Sec-WebSocket-Protocol` only: identity source `route.request.header.Sec-WebSocket-Protocol`. */
  PROTOCOL = 'protocol',
}

/** Identity sources of the `$connect` authorizer for each token source. */
export const IDENTITY_SOURCES: Readonly<Record<TokenSource, readonly string[]>> = {
  [TokenSource.QUERY_OR_PROTOCOL]: [],
  [TokenSource.QUERY]: ['route.request.querystring.token'],
  [TokenSource.PROTOCOL]: ['route.request.header.Sec-WebSocket-Protocol'],
};

/** Server-side encryption of the topic. */
export class TopicEncryption {
  /** No server-side encryption (messages are still encrypted in transit: the topic requires TLS). */
  static readonly UNENCRYPTED = new TopicEncryption('unencrypted');
  /**
   * The AWS managed key `alias/aws/sns`: no key to manage, no monthly key fee. Publishers in the
   * same account need no KMS permission; other accounts and AWS services cannot publish.
   */
  static readonly AWS_MANAGED = new TopicEncryption('aws-managed');
  /** A customer managed key; `grantPublish` also grants its use. */
  static customerManaged(key: kms.IKey): TopicEncryption {
    return new TopicEncryption('customer-managed', key);
  }
  private constructor(
    /** Which kind of encryption this is. */
    readonly kind: 'unencrypted' | 'aws-managed' | 'customer-managed',
    /** The customer managed key, for that kind. */
    readonly key?: kms.IKey,
  ) {}
}

/** Stage throttling applied to every route (messages and connection attempts from clients). */
export interface PushlineThrottling {
  /** Steady-state requests per second. @default 500 */
  readonly rateLimit?: number;
  /** Burst bucket size. @default 1000 */
  readonly burstLimit?: number;
}

/** Properties of {@link Pushline}. */
export interface PushlineProps {
  /** How tokens are verified on `$connect`. */
  readonly auth: PushlineAuth;
  /** Where clients put their token. @default TokenSource.QUERY_OR_PROTOCOL */
  readonly tokenSource?: TokenSource;
  /** Name of the WebSocket stage (the URL path and the @connections scope). @default 'prod' */
  readonly stageName?: string;
  /**
   * Stage throttling. Client traffic shares the account's 10,000 requests/s API Gateway quota with
   * every PostToConnection, so the default leaves most of it to deliveries.
   * @default { rateLimit: 500, burstLimit: 1000 }
   */
  readonly throttling?: PushlineThrottling;
  /** Memory of every function, in MB. @default 256 */
  readonly memorySize?: number;
  /** Instruction set of every function. @default lambda.Architecture.ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** Retention of the function and access log groups. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** What happens to the table, queues and log groups when they leave the stack. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Actions of every alarm (e.g. an SNS topic for on-call). @default - alarms only change state */
  readonly alarmActions?: readonly cloudwatch.IAlarmAction[];
  /** Server-side encryption of the topic. @default TopicEncryption.AWS_MANAGED */
  readonly topicEncryption?: TopicEncryption;
  /** PostToConnection calls one delivery keeps in flight. @default 32 */
  readonly deliveryConcurrency?: number;
  /**
   * How the functions call the stage's management API: `http` signs each request itself (SigV4)
   * over a keep-alive agent, `sdk` uses the SDK's ApiGatewayManagementApiClient. Same error
   * handling either way; `http` costs less CPU per post (bench/deliver-cpu.ts).
   * @default 'http'
   */
  readonly managementClient?: ManagementClient;
  /** Lifetime of a connection row. @default just over API Gateway's 2-hour connection limit */
  readonly connectionTtl?: Duration;
  /** Write a JSON access log for the stage. @default true */
  readonly accessLogging?: boolean;
  /**
   * Set the account's API Gateway CloudWatch Logs role (`AWS::ApiGateway::Account`), which WebSocket
   * access logging requires. It is one setting per account and region: turn this off when another
   * stack already manages it. The role is retained on deletion so other APIs keep logging.
   * @default true when access logging is on
   */
  readonly apiGatewayCloudWatchRole?: boolean;
  /** Who may subscribe to which topics, and which topics report presence. @default - the token's `topics` claim only, no presence topics */
  readonly topics?: PushlineTopics;
  /** How topic and broadcast messages are fanned out. @default - see {@link PushlineFanout} */
  readonly fanout?: PushlineFanout;
  /** What clients may `send`, and how fast. @default - see {@link PushlineConversations} */
  readonly conversations?: PushlineConversations;
  /** Users' preferences (what they mute). @default - every type may be muted */
  readonly preferences?: PushlinePreferences;
  /**
   * Publish receipts and lifecycle events (`delivered`, `read`, `failed`, `rejected`, `connected`,
   * `disconnected`) to `eventsTopic`, for publishers to subscribe to with a filter policy on the
   * `event` attribute. @default false (no events topic, no cost)
   */
  readonly events?: boolean;
  /**
   * Mobile push, the offline fallback: messages of the opted-in types reach the registered phones
   * of users no open connection took them (through SNS platform endpoints, APNs and FCM).
   * @default - no mobile push (`register` frames are answered FORBIDDEN)
   */
  readonly mobilePush?: PushlineMobilePush;
}

/**
 * Mobile push settings. CloudFormation has no resource for SNS platform applications, and their
 * credentials (an APNs key or certificate, an FCM service account) must never be in a template:
 * the deployer creates the applications once (docs/deploy.md: the credentials kept in Secrets
 * Manager, handed to SNS by the CLI) and names them here. The construct only grants the functions
 * what they do on them: create, read, update and delete endpoints, and publish to endpoints.
 */
export interface PushlineMobilePush {
  /** Message types sent to devices when no connection took them, e.g. `['chat.text']`. */
  readonly types: readonly string[];
  /**
   * The SNS platform application ARN of each platform devices may register with
   * (`arn:aws:sns:{region}:{account}:app/{APNS|APNS_SANDBOX|GCM}/{name}`); at least one.
   */
  readonly applications: { readonly [P in PushPlatform]?: string };
}

/** The deployer's rule for users' preferences. */
export interface PushlinePreferences {
  /** Message types no user can mute (security alerts, say): always pushed, always counted. @default [] */
  readonly mandatory?: readonly string[];
}

/**
 * Client `send`: users writing to users and to topics. Sending to a topic follows the topic rule
 * (a user may send to the topics it may subscribe to).
 */
export interface PushlineConversations {
  /** Let users send to other users. @default true */
  readonly toUsers?: boolean;
  /** A connection's average sends per second (a token bucket). @default 10 */
  readonly ratePerSecond?: number;
  /** Sends a connection may make at once before the rate applies. @default 20 */
  readonly burst?: number;
  /**
   * Backend services users may send to (`to: { service: 'robot' }`): each send is published, with
   * the verified sender, on the construct's `inboundTopic`, which services subscribe to (filter on
   * the `service` message attribute). Names are 1 to 64 letters, digits and `. _ -`. @default [] (no
   * inbound topic)
   */
  readonly services?: readonly string[];
}

/** The deployer's topic rule. Patterns are topic names, or prefixes ending in `*` (`*` alone: any topic). */
export interface PushlineTopics {
  /** The token claim listing the topic patterns a user may subscribe to. @default 'topics' */
  readonly claim?: string;
  /** Patterns every connected user may subscribe to, whatever the token says. @default [] */
  readonly open?: readonly string[];
  /** Patterns of presence topics: their subscribers get `presence` frames as users join and leave. @default [] */
  readonly presence?: readonly string[];
}

/**
 * Fan-out of topic and broadcast messages. Each message is split into one part per audience shard;
 * each part is run by one invocation of the fan-out function, which hands the rest of its shard on
 * when it has posted to `connectionsPerInvocation` connections.
 */
export interface PushlineFanout {
  /**
   * Most PostToConnection calls per second all fan-out invocations together make: a share of the
   * account's 10,000 requests/s API Gateway quota (which user deliveries and clients also use).
   * @default 2000
   */
  readonly maxPostsPerSecond?: number;
  /**
   * Reserved concurrency of the fan-out function (how many invocations run at once; each paces
   * itself at `maxPostsPerSecond / concurrency`). Reserving needs unreserved account concurrency.
   * @default 4
   */
  readonly concurrency?: number;
  /** Most connections one invocation posts to before it hands the rest on. @default 5000 */
  readonly connectionsPerInvocation?: number;
}

/** The handlers, by name. */
export interface PushlineFunctions {
  readonly authorizer: lambda.Function;
  readonly connect: lambda.Function;
  readonly disconnect: lambda.Function;
  readonly message: lambda.Function;
  readonly deliver: lambda.Function;
  /** Runs the parts of topic and broadcast messages from the fan-out topic. */
  readonly fanout: lambda.Function;
}

/** The alarms the construct creates. */
export interface PushlineAlarms {
  /** Events that failed delivery after every retry are waiting in the dead-letter queue. */
  readonly deadLetterQueueDepth: cloudwatch.Alarm;
  /** Invalid envelopes were rejected (a publisher is sending bad messages). */
  readonly rejectedQueueDepth: cloudwatch.Alarm;
  /** The delivery function threw (a retry or a dead letter follows). */
  readonly deliveryErrors: cloudwatch.Alarm;
  /** The delivery function was throttled (concurrency exhausted). */
  readonly deliveryThrottles: cloudwatch.Alarm;
  /**
   * The fan-out function failed (a table or gateway outage mid-part; the retry of its event runs
   * the part again). Its throttles are not alarmed: its reserved concurrency paces big fan-outs.
   */
  readonly fanoutErrors: cloudwatch.Alarm;
  /** The message function (client frames: send, prefs, subscribe…) threw; the client got `INTERNAL`. */
  readonly messageErrors: cloudwatch.Alarm;
  /** With `events`: receipts or lifecycle events could not be published and were dropped. */
  readonly eventsDropped?: cloudwatch.Alarm;
  /**
   * With `mobilePush`: at least ten mobile pushes in five minutes failed or were left undone at the
   * deliver function's deadline (a platform application's credentials expired, SNS throttling).
   */
  readonly mobilePushFailures?: cloudwatch.Alarm;
  /**
   * With `conversations.services`: SNS could not hand users' messages on the inbound topic to a
   * service's subscription (a queue policy or a subscribed function failing).
   */
  readonly inboundDeliveryFailures?: cloudwatch.Alarm;
}

/** Metadata keys on each CfnFunction that let the local runtime run the TypeScript source. */
export const FUNCTION_METADATA = {
  /** Repository-relative path of the handler's source module. */
  entry: 'pushline:entry',
  /** Name of the exported handler. */
  handler: 'pushline:handler',
} as const;

/**
 * Records where a function's TypeScript source is, so the local runtime (`npm start`) can run it
 * from the synthesized template. Call it for every function you add to the API or the topic.
 */
export function addLocalSource(fn: lambda.Function, entry: string, handler = 'handler'): void {
  const cfn = fn.node.defaultChild as lambda.CfnFunction;
  cfn.addMetadata(FUNCTION_METADATA.entry, relative(PROJECT_ROOT, resolve(entry)).split('\\').join('/'));
  cfn.addMetadata(FUNCTION_METADATA.handler, handler);
}

/** Client actions with their own route (per-route metrics and throttling); others reach `$default`. */
export const MESSAGE_ROUTE_KEYS = ['ping', 'resume', 'ack'] as const;

/**
 * Everything Pushline needs in one construct: the WebSocket API with its `$connect` authorizer,
 * the connections table, the topic services publish to, the delivery function subscribed to it,
 * its dead-letter and rejected-envelope queues, alarms, and least-privilege grants between them.
 */
export class Pushline extends Construct {
  /** The topic services publish envelopes to. */
  readonly topic: sns.Topic;
  /** Internal: carries the parts of topic and broadcast messages to the fan-out function. */
  readonly fanoutTopic: sns.Topic;
  /**
   * What clients send to backend services (`conversations.services`); subscribe each service with a
   * filter policy on the `service` attribute. Absent when no service is named.
   */
  readonly inboundTopic?: sns.Topic;
  /** Receipts and lifecycle events (`events: true`); absent otherwise. */
  readonly eventsTopic?: sns.Topic;
  /** Connections, inboxes and unread counters. */
  readonly table: dynamodb.Table;
  /** The WebSocket API clients connect to. */
  readonly api: WebSocketApi;
  /** The API's only stage. */
  readonly stage: WebSocketStage;
  /** The handlers. */
  readonly functions: PushlineFunctions;
  /** Invalid envelopes with the reason they were rejected. */
  readonly rejectedQueue: sqs.Queue;
  /** Deliveries that failed after every retry (SNS redrive and the function's on-failure destination). */
  readonly deadLetterQueue: sqs.Queue;
  /** The construct's alarms (wired to `alarmActions`). */
  readonly alarms: PushlineAlarms;
  /** The URL clients connect to: `wss://{api}.execute-api.{region}.amazonaws.com/{stage}`. */
  readonly webSocketUrl: string;
  /** The stage's management API endpoint (`@connections`). */
  readonly callbackUrl: string;

  constructor(scope: Construct, id: string, props: PushlineProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const stageName = props.stageName ?? 'prod';

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey, type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: TABLE_SCHEMA.ttlAttribute,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });
    // Only connection rows carry the index key, so the index stays small; ALL because `$disconnect`
    // reads the owner's `userId` from it.
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE_SCHEMA.indexes.byConnection.name,
      partitionKey: {
        name: TABLE_SCHEMA.indexes.byConnection.partitionKey,
        type: dynamodb.AttributeType.STRING,
      },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Local indexes, because they allow the strongly consistent reads that resume and unread counts
    // need (a global index does not). Only stored messages carry their sort keys.
    const { bySeq, unread } = TABLE_SCHEMA.localIndexes;
    this.table.addLocalSecondaryIndex({
      indexName: bySeq.name,
      sortKey: { name: bySeq.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Sparse: a message is in it while unread. Counting reads only these small entries.
    this.table.addLocalSecondaryIndex({
      indexName: unread.name,
      sortKey: { name: unread.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: [...unread.include],
    });

    const encryption = props.topicEncryption ?? TopicEncryption.AWS_MANAGED;
    this.topic = this.newTopic('Topic', encryption);
    this.fanoutTopic = this.newTopic('FanoutTopic', encryption);
    const topicRules = checkedTopicRules(props.topics);
    const fanout = fanoutSettings(props.fanout);
    const conversations = conversationSettings(props.conversations);
    const mandatoryEnv = { [ENV.mandatoryTypes]: checkedMandatoryTypes(props.preferences).join(',') };
    const mobilePush = checkedMobilePush(props.mobilePush);
    const pushApplicationsEnv: Record<string, string> = mobilePush
      ? { [ENV.pushApplications]: applicationsText(mobilePush.applications) }
      : {};
    if (conversations.services.length > 0) this.inboundTopic = this.newTopic('InboundTopic', encryption);
    if (props.events === true) this.eventsTopic = this.newTopic('EventsTopic', encryption);

    this.deadLetterQueue = this.newQueue('DeadLetterQueue', removalPolicy);
    this.rejectedQueue = this.newQueue('RejectedQueue', removalPolicy);

    const functionOptions = {
      memorySize: props.memorySize ?? 256,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      logRetention,
      removalPolicy,
    };
    const tableEnv = { [ENV.tableName]: this.table.tableName };
    const authorizer = this.newFunction('Authorizer', 'authorizer', {
      ...functionOptions,
      timeout: Duration.seconds(10),
      environment: { ...authEnvironment(props.auth), [ENV.topicClaim]: topicRules.claim },
    });
    const ttlEnv = {
      [ENV.connectionTtlSeconds]: String(props.connectionTtl?.toSeconds() ?? DEFAULT_CONNECTION_TTL_SECONDS),
    };
    const fanoutEnv = { [ENV.fanoutTopicArn]: this.fanoutTopic.topicArn };
    const presenceEnv = { [ENV.presenceTopics]: topicRules.presence.join(',') };
    const connect = this.newFunction('Connect', 'connect', {
      ...functionOptions,
      timeout: Duration.seconds(10),
      environment: { ...tableEnv, ...ttlEnv },
    });
    const disconnect = this.newFunction('Disconnect', 'disconnect', {
      ...functionOptions,
      timeout: Duration.seconds(10),
      environment: { ...tableEnv, ...fanoutEnv, ...presenceEnv },
    });
    // API Gateway waits at most 29 s for an integration.
    const message = this.newFunction('Message', 'message', {
      ...functionOptions,
      timeout: Duration.seconds(29),
      environment: {
        ...tableEnv,
        ...ttlEnv,
        ...fanoutEnv,
        ...presenceEnv,
        [ENV.openTopics]: topicRules.open.join(','),
        [ENV.topicArn]: this.topic.topicArn,
        [ENV.sendToUsers]: String(conversations.toUsers),
        [ENV.sendRatePerSecond]: String(conversations.ratePerSecond),
        [ENV.sendBurst]: String(conversations.burst),
        ...mandatoryEnv,
        ...pushApplicationsEnv,
        ...(this.inboundTopic
          ? {
              [ENV.inboundTopicArn]: this.inboundTopic.topicArn,
              [ENV.services]: conversations.services.join(','),
            }
          : {}),
      },
    });
    // What clients `send` is published to the Pushline topic, as a service would (or, for a
    // backend service, to the inbound topic).
    this.topic.grantPublish(message);
    this.inboundTopic?.grantPublish(message);
    const deliver = this.newFunction('Deliver', 'deliver', {
      ...functionOptions,
      // The inbox's lease and resume look-back are sized on this timeout (functions/shared/limits.ts).
      timeout: Duration.seconds(DELIVER_TIMEOUT_SECONDS),
      environment: {
        ...tableEnv,
        [ENV.rejectedQueueUrl]: this.rejectedQueue.queueUrl,
        [ENV.deliveryConcurrency]: String(props.deliveryConcurrency ?? 32),
        ...fanoutEnv,
        ...mandatoryEnv,
        ...pushApplicationsEnv,
        ...(mobilePush ? { [ENV.pushTypes]: mobilePush.types.join(',') } : {}),
      },
    });
    const fanoutFn = this.newFunction('Fanout', 'fanout', {
      ...functionOptions,
      // A part's claim is taken over once older than this timeout (functions/shared/limits.ts).
      timeout: Duration.seconds(FANOUT_TIMEOUT_SECONDS),
      reservedConcurrentExecutions: fanout.concurrency,
      environment: {
        ...tableEnv,
        ...fanoutEnv,
        [ENV.deliveryConcurrency]: String(props.deliveryConcurrency ?? 32),
        [ENV.fanoutConnectionsPerInvocation]: String(fanout.connectionsPerInvocation),
        [ENV.fanoutPostsPerSecond]: String(
          Math.max(1, Math.floor(fanout.maxPostsPerSecond / fanout.concurrency)),
        ),
      },
    });
    this.functions = { authorizer, connect, disconnect, message, deliver, fanout: fanoutFn };

    if ('secret' in props.auth) props.auth.secret.grantRead(authorizer);

    this.api = new WebSocketApi(this, 'Api', {
      description: 'Pushline: push to users over WebSockets',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', connect),
        authorizer: new WebSocketLambdaAuthorizer('Authorizer', authorizer, {
          identitySource: [...IDENTITY_SOURCES[props.tokenSource ?? TokenSource.QUERY_OR_PROTOCOL]],
        }),
      },
      disconnectRouteOptions: {
        integration: new WebSocketLambdaIntegration('DisconnectIntegration', disconnect),
      },
      defaultRouteOptions: {
        integration: new WebSocketLambdaIntegration('DefaultIntegration', message),
        returnResponse: true,
      },
    });
    for (const routeKey of MESSAGE_ROUTE_KEYS) {
      this.api.addRoute(routeKey, {
        integration: new WebSocketLambdaIntegration(`${pascal(routeKey)}Integration`, message),
        returnResponse: true,
      });
    }
    this.dropEmptyIdentitySource();

    const throttle = {
      rateLimit: props.throttling?.rateLimit ?? 500,
      burstLimit: props.throttling?.burstLimit ?? 1000,
    };
    const accessLogging = props.accessLogging ?? true;
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName,
      autoDeploy: true,
      throttle,
      accessLogSettings: accessLogging
        ? {
            destination: new LogGroupLogDestination(
              new logs.LogGroup(this, 'AccessLogs', { retention: logRetention, removalPolicy }),
            ),
            format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
          }
        : undefined,
    });
    if (accessLogging && (props.apiGatewayCloudWatchRole ?? true)) this.setApiGatewayLogsRole();
    this.webSocketUrl = this.stage.url;
    this.callbackUrl = this.stage.callbackUrl;

    for (const fn of [message, deliver, fanoutFn]) {
      fn.addEnvironment(ENV.callbackUrl, this.callbackUrl);
      fn.addEnvironment(ENV.managementClient, props.managementClient ?? DEFAULT_MANAGEMENT_CLIENT);
      this.stage.grantManagementApiAccess(fn);
    }
    for (const fn of [message, disconnect, deliver, fanoutFn]) this.fanoutTopic.grantPublish(fn);
    if (this.eventsTopic) {
      for (const fn of [connect, message, disconnect, deliver, fanoutFn]) {
        fn.addEnvironment(ENV.eventsTopicArn, this.eventsTopic.topicArn);
        this.eventsTopic.grantPublish(fn);
      }
    }

    // Least privilege per function: exactly the DynamoDB operations its code issues
    // (test/infra/grants.test.ts checks these lists against the bundled handlers).
    for (const [name, fn] of Object.entries(this.functions) as [keyof PushlineFunctions, lambda.Function][]) {
      const actions = TABLE_ACTIONS[name];
      if (actions.length > 0) this.table.grant(fn, ...actions);
    }
    this.rejectedQueue.grantSendMessages(deliver);
    if (mobilePush) {
      // Devices register from a socket (message) or through a service's control envelope (deliver).
      this.grantMobilePush(message, mobilePush.applications, { publish: false });
      this.grantMobilePush(deliver, mobilePush.applications, { publish: true });
    }

    this.topic.addSubscription(new LambdaSubscription(deliver, { deadLetterQueue: this.deadLetterQueue }));
    deliver.configureAsyncInvoke({ onFailure: new SqsDestination(this.deadLetterQueue) });
    this.fanoutTopic.addSubscription(
      new LambdaSubscription(fanoutFn, { deadLetterQueue: this.deadLetterQueue }),
    );
    fanoutFn.configureAsyncInvoke({ onFailure: new SqsDestination(this.deadLetterQueue) });

    this.alarms = this.newAlarms(
      { deliver, fanout: fanoutFn, message },
      { mobilePush: mobilePush !== undefined },
      props.alarmActions ?? [],
    );
    this.acknowledgeDesignFindings();
  }

  /** Lets a service's role publish envelopes to the topic (and use its key when customer managed). */
  grantPublish(grantee: iam.IGrantable): iam.Grant {
    return this.topic.grantPublish(grantee);
  }

  /**
   * Lets a service's role ask who is online (the publisher library's `Presence`, `npx pushline
   * online` and `audience`): `dynamodb:Query` on the table and its indexes, nothing else.
   */
  grantPresenceRead(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:Query');
  }

  /**
   * SNS mobile push on the deployer's platform applications only: CreatePlatformEndpoint on each
   * application, the endpoint calls on that application's endpoints (`endpoint/{platform}/{name}/*`:
   * endpoint ids exist only at run time), and Publish to them for the deliver function.
   */
  private grantMobilePush(
    fn: lambda.Function,
    applications: PushlineMobilePush['applications'],
    options: { publish: boolean },
  ): void {
    const stack = Stack.of(this);
    const applicationArns = PUSH_PLATFORMS.flatMap((platform) => applications[platform] ?? []);
    const endpointArns = applicationArns.map((arn) => {
      const parts = Arn.split(arn, ArnFormat.SLASH_RESOURCE_NAME);
      return stack.formatArn({
        ...parts,
        resource: 'endpoint',
        resourceName: `${parts.resourceName}/*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    });
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['sns:CreatePlatformEndpoint'], resources: applicationArns }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'sns:GetEndpointAttributes',
          'sns:SetEndpointAttributes',
          'sns:DeleteEndpoint',
          ...(options.publish ? ['sns:Publish'] : []),
        ],
        resources: endpointArns,
      }),
    );
    const policy = fn.role?.node.tryFindChild('DefaultPolicy');
    if (!policy) return;
    for (const arn of endpointArns) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagText(stack.resolve(arn))}]`,
        reason:
          "Platform endpoints (one per device token) are created at run time, so their ids are unknown at deploy time; the grant is limited to the endpoints of the deployer's own platform application.",
      });
    }
  }

  private newTopic(id: string, encryption: TopicEncryption): sns.Topic {
    const topic = new sns.Topic(this, id, {
      enforceSSL: true,
      masterKey: encryption.kind === 'customer-managed' ? encryption.key : undefined,
    });
    if (encryption.kind === 'aws-managed') {
      // The documented key id of the AWS managed key; its key policy already lets this account use
      // it through SNS, so publishers need no KMS permission (hence no `masterKey` for grants).
      (topic.node.defaultChild as sns.CfnTopic).kmsMasterKeyId = 'alias/aws/sns';
    }
    if (encryption.kind === 'unencrypted') {
      Validations.of(topic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason:
          'Server-side encryption was turned off explicitly with TopicEncryption.UNENCRYPTED; TLS is enforced.',
      });
    }
    return topic;
  }

  private newQueue(id: string, removalPolicy: RemovalPolicy): sqs.Queue {
    const queue = new sqs.Queue(this, id, {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
      removalPolicy,
    });
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a terminal sink (dead letters or rejected envelopes) that operators inspect and replay; a further DLQ would hide nothing.',
    });
    return queue;
  }

  private newFunction(
    id: string,
    name: keyof PushlineFunctions,
    options: {
      memorySize: number;
      architecture: lambda.Architecture;
      logRetention: logs.RetentionDays;
      removalPolicy: RemovalPolicy;
      timeout: Duration;
      environment: Record<string, string>;
      reservedConcurrentExecutions?: number;
    },
  ): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: options.logRetention,
      removalPolicy: options.removalPolicy,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: it may write to its log group only.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Pushline ${name} function`,
    });
    logGroup.grantWrite(role);
    const props: lambda.FunctionOptions = {
      architecture: options.architecture,
      memorySize: options.memorySize,
      timeout: options.timeout,
      reservedConcurrentExecutions: options.reservedConcurrentExecutions,
      role,
      logGroup,
      description: `Pushline ${name}`,
      environment: {
        ...options.environment,
        POWERTOOLS_SERVICE_NAME: 'pushline',
        POWERTOOLS_METRICS_NAMESPACE: 'Pushline',
        // Stack traces point into the TypeScript sources through the bundled source maps.
        NODE_OPTIONS: '--enable-source-maps',
      },
    };
    const fn = PREBUILT
      ? new lambda.Function(this, id, {
          ...props,
          runtime: lambda.Runtime.NODEJS_22_X,
          code: lambda.Code.fromAsset(prebuiltHandlerDir(name)),
          handler: HANDLER,
        })
      : this.bundledFunction(id, name, props);
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is the runtime Pushline is built and tested for; moving to a newer one is a deliberate upgrade.',
    });
    return fn;
  }

  /** A function bundled from its TypeScript source at synth (a checkout; see PREBUILT_HANDLERS_DIR). */
  private bundledFunction(id: string, name: HandlerName, props: lambda.FunctionOptions): NodejsFunction {
    const entry = resolve(FUNCTIONS_DIR, `${name}.ts`);
    const fn = new NodejsFunction(this, id, {
      ...props,
      runtime: lambda.Runtime.NODEJS_22_X,
      entry,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: resolve(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: HANDLER_BUNDLING.target,
        minify: HANDLER_BUNDLING.minify,
        sourceMap: HANDLER_BUNDLING.sourceMap,
        mainFields: [...HANDLER_BUNDLING.mainFields],
        banner: HANDLER_BUNDLING.banner,
        // The SDK is bundled so the deployed code runs the versions the tests ran.
        bundleAwsSDK: true,
        externalModules: [],
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
      },
    });
    addLocalSource(fn, entry);
    return fn;
  }

  /** The CDK renders an empty identity source as `[]`; leave the property out instead. */
  private dropEmptyIdentitySource(): void {
    for (const child of this.api.node.findAll()) {
      if (child instanceof CfnAuthorizer && (child.identitySource ?? []).length === 0) {
        child.identitySource = undefined;
      }
    }
  }

  private setApiGatewayLogsRole(): void {
    const role = new iam.Role(this, 'ApiGatewayLogsRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
      ],
    });
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'The AWS-documented policy for the account-level API Gateway logging role; API Gateway chooses the log groups it writes to.',
    });
    const account = new CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
    account.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.stage.node.addDependency(account);
  }

  private newAlarms(
    { deliver, fanout, message }: Pick<PushlineFunctions, 'deliver' | 'fanout' | 'message'>,
    features: { readonly mobilePush: boolean },
    actions: readonly cloudwatch.IAlarmAction[],
  ): PushlineAlarms {
    const oneMinute = Duration.minutes(1);
    const fiveMinutes = Duration.minutes(5);
    /** A count the functions publish (functions/lib/observability.ts), summed over `period`. */
    const pushlineCount = (metricName: string, period: Duration) =>
      new cloudwatch.Metric({
        namespace: 'Pushline',
        metricName,
        dimensionsMap: { service: 'pushline' },
        statistic: 'Sum',
        period,
      });
    const atLeastOne = {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };
    const alarms: PushlineAlarms = {
      deadLetterQueueDepth: new cloudwatch.Alarm(this, 'DeadLetterQueueDepthAlarm', {
        ...atLeastOne,
        alarmDescription: 'Pushline deliveries failed after every retry and wait in the dead-letter queue.',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: oneMinute,
          statistic: 'Maximum',
        }),
      }),
      rejectedQueueDepth: new cloudwatch.Alarm(this, 'RejectedQueueDepthAlarm', {
        ...atLeastOne,
        alarmDescription: 'A publisher sent envelopes Pushline rejected; they wait in the rejected queue.',
        metric: this.rejectedQueue.metricApproximateNumberOfMessagesVisible({
          period: oneMinute,
          statistic: 'Maximum',
        }),
      }),
      deliveryErrors: new cloudwatch.Alarm(this, 'DeliveryErrorsAlarm', {
        ...atLeastOne,
        alarmDescription:
          'The Pushline delivery function failed; Lambda retries, then dead-letters the event.',
        metric: deliver.metricErrors({ period: oneMinute, statistic: 'Sum' }),
      }),
      deliveryThrottles: new cloudwatch.Alarm(this, 'DeliveryThrottlesAlarm', {
        ...atLeastOne,
        alarmDescription: 'The Pushline delivery function was throttled; deliveries are delayed.',
        metric: deliver.metricThrottles({ period: oneMinute, statistic: 'Sum' }),
      }),
      fanoutErrors: new cloudwatch.Alarm(this, 'FanoutErrorsAlarm', {
        ...atLeastOne,
        alarmDescription:
          'The Pushline fan-out function failed on a part of a topic or broadcast message; Lambda retries, then dead-letters it.',
        metric: fanout.metricErrors({ period: oneMinute, statistic: 'Sum' }),
      }),
      messageErrors: new cloudwatch.Alarm(this, 'MessageErrorsAlarm', {
        ...atLeastOne,
        alarmDescription:
          'The Pushline message function failed on client frames (send, prefs, subscribe); clients got INTERNAL.',
        metric: message.metricErrors({ period: oneMinute, statistic: 'Sum' }),
      }),
      ...(this.eventsTopic && {
        eventsDropped: new cloudwatch.Alarm(this, 'EventsDroppedAlarm', {
          ...atLeastOne,
          alarmDescription:
            'Pushline receipts or lifecycle events could not be published to the events topic and were dropped.',
          metric: pushlineCount('eventsDropped', fiveMinutes),
        }),
      }),
      ...(features.mobilePush && {
        mobilePushFailures: new cloudwatch.Alarm(this, 'MobilePushFailuresAlarm', {
          ...atLeastOne,
          threshold: 10,
          alarmDescription:
            'Pushline mobile pushes failed or were left undone (platform credentials, SNS throttling); see the deliver logs.',
          metric: pushlineCount('mobilePushFailed', fiveMinutes),
        }),
      }),
      ...(this.inboundTopic && {
        inboundDeliveryFailures: new cloudwatch.Alarm(this, 'InboundDeliveryFailuresAlarm', {
          ...atLeastOne,
          alarmDescription:
            "SNS could not hand users' messages on the Pushline inbound topic to a service's subscription.",
          metric: this.inboundTopic.metricNumberOfNotificationsFailed({
            period: fiveMinutes,
            statistic: 'Sum',
          }),
        }),
      }),
    };
    for (const alarm of Object.values(alarms)) alarm?.addAlarmAction(...actions);
    return alarms;
  }

  /** Findings that follow from the design, acknowledged on the resource they concern, each with its reason. */
  private acknowledgeDesignFindings(): void {
    const stack = Stack.of(this);
    const tableArn = `<${stack.resolve((this.table.node.defaultChild as dynamodb.CfnTable).logicalId)}.Arn>`;
    const apiId = `<${stack.resolve((this.api.node.defaultChild as CfnApi).logicalId)}>`;
    for (const [name, fn] of Object.entries(this.functions) as [keyof PushlineFunctions, lambda.Function][]) {
      const policy = fn.role?.node.tryFindChild('DefaultPolicy');
      if (!policy) continue;
      if (TABLE_ACTIONS[name].length > 0) {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${tableArn}/index/*]`,
          reason:
            'The table grant covers its indexes (byConnection, bySeq, unread); indexes are named by the table schema.',
        });
      }
      if (name === 'message' || name === 'deliver' || name === 'fanout') {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:${apiId}/${this.stage.stageName}/*/@connections/*]`,
          reason:
            "Posting to a connection needs ManageConnections on that connection id, which exists only at runtime; the grant is limited to this API's stage.",
        });
      }
      if (name !== 'authorizer' && name !== 'connect') {
        Validations.of(policy).acknowledge({
          id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
          reason:
            "Publishing to the fan-out topic encrypted with a customer managed key needs the key's data-key actions (SNS's documented grant), on that one key.",
        });
      }
    }
    for (const route of this.api.node.findAll()) {
      if (route instanceof CfnRoute && route.routeKey !== '$connect') {
        Validations.of(route).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'WebSocket APIs authorize once, on $connect; every later message of the connection carries the verified identity.',
        });
      }
    }
  }
}

/** The topic rule with its defaults; a pattern that is not one fails the synth with a clear message. */
function checkedTopicRules(topics: PushlineTopics | undefined): Required<PushlineTopics> {
  const rules = {
    claim: topics?.claim ?? DEFAULT_TOPIC_CLAIM,
    open: topics?.open ?? [],
    presence: topics?.presence ?? [],
  };
  for (const [prop, patterns] of [
    ['open', rules.open],
    ['presence', rules.presence],
  ] as const) {
    for (const pattern of patterns) {
      const problem = topicPatternProblem(pattern);
      if (problem !== undefined) throw new Error(`Pushline topics.${prop}: ${problem}`);
    }
  }
  if (!/^[A-Za-z0-9_:./-]{1,128}$/.test(rules.claim)) {
    throw new Error(`Pushline topics.claim: "${rules.claim}" is not a claim name`);
  }
  return rules;
}

/** The fan-out settings with their defaults, checked. */
function fanoutSettings(fanout: PushlineFanout | undefined): Required<PushlineFanout> {
  const settings = {
    maxPostsPerSecond: fanout?.maxPostsPerSecond ?? 2000,
    concurrency: fanout?.concurrency ?? 4,
    connectionsPerInvocation: fanout?.connectionsPerInvocation ?? 5000,
  };
  for (const [prop, value] of Object.entries(settings)) {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`Pushline fanout.${prop} must be a positive integer`);
  }
  if (settings.maxPostsPerSecond > 10_000) {
    throw new Error(
      'Pushline fanout.maxPostsPerSecond is above the account-wide 10,000 requests/s of API Gateway',
    );
  }
  return settings;
}

/** The mandatory types, checked (1 to 128 characters, no commas: they travel comma-separated). */
function checkedMandatoryTypes(preferences: PushlinePreferences | undefined): readonly string[] {
  const types = preferences?.mandatory ?? [];
  for (const type of types) {
    if (type.length < 1 || type.length > 128 || type.includes(',')) {
      throw new Error(
        `Pushline preferences.mandatory: "${type}" is not a message type (1 to 128 characters, no comma)`,
      );
    }
  }
  return types;
}

/** The mobile push settings, checked: at least one application, valid types. */
function checkedMobilePush(mobilePush: PushlineMobilePush | undefined): PushlineMobilePush | undefined {
  if (mobilePush === undefined) return undefined;
  const platforms = PUSH_PLATFORMS.filter((platform) => mobilePush.applications[platform] !== undefined);
  if (platforms.length === 0) {
    throw new Error('Pushline mobilePush.applications must name at least one platform application');
  }
  for (const platform of platforms) {
    const arn = mobilePush.applications[platform] as string;
    if (Token.isUnresolved(arn)) continue;
    const problem = parseApplications(`${platform}=${arn}`);
    if (typeof problem === 'string')
      throw new Error(`Pushline mobilePush.applications.${platform}: ${problem}`);
  }
  for (const type of mobilePush.types) {
    if (type.length < 1 || type.length > 128 || type.includes(',')) {
      throw new Error(
        `Pushline mobilePush.types: "${type}" is not a message type (1 to 128 characters, no comma)`,
      );
    }
  }
  return mobilePush;
}

/** A resolved value as cdk-nag names it in a finding (intrinsics as `<…>`). */
function nagText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if (typeof record.Ref === 'string') return `<${record.Ref}>`;
    const join = record['Fn::Join'] as [string, unknown[]] | undefined;
    if (join) return join[1].map(nagText).join(join[0]);
  }
  return JSON.stringify(value);
}

/** The conversation settings with their defaults, checked. */
function conversationSettings(
  conversations: PushlineConversations | undefined,
): Required<PushlineConversations> {
  const settings = {
    toUsers: conversations?.toUsers ?? true,
    ratePerSecond: conversations?.ratePerSecond ?? DEFAULT_SEND_RATE.perSecond,
    burst: conversations?.burst ?? DEFAULT_SEND_RATE.burst,
    services: conversations?.services ?? [],
  };
  for (const service of settings.services) {
    if (!SERVICE_NAME_PATTERN.test(service)) {
      throw new Error(
        `Pushline conversations.services: "${service}" is not 1 to 64 letters, digits and . _ -`,
      );
    }
  }
  for (const prop of ['ratePerSecond', 'burst'] as const) {
    const value = settings[prop];
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`Pushline conversations.${prop} must be a positive integer`);
  }
  return settings;
}

/**
 * DynamoDB operations per function, read from what each handler's code issues (see the grants test).
 * The authorizer never touches the table.
 */
export const TABLE_ACTIONS: Readonly<Record<keyof PushlineFunctions, readonly string[]>> = {
  authorizer: [],
  connect: ['dynamodb:PutItem'],
  // The audience adapter it shares with the message function holds subscribe's put and get too.
  disconnect: [
    'dynamodb:DeleteItem',
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:Query',
    'dynamodb:UpdateItem',
  ],
  fanout: [
    'dynamodb:DeleteItem',
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:Query',
    'dynamodb:UpdateItem',
  ],
  message: [
    'dynamodb:DeleteItem',
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:Query',
    'dynamodb:UpdateItem',
  ],
  deliver: [
    'dynamodb:DeleteItem',
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:Query',
    'dynamodb:UpdateItem',
  ],
};

/** What every access log line holds (JSON). The token never appears: no query string is logged. */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTime: '$context.requestTime',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  connectionId: '$context.connectionId',
  status: '$context.status',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  principalId: '$context.authorizer.principalId',
  authorizerError: '$context.authorizer.error',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
};

function authEnvironment(auth: PushlineAuth): Record<string, string> {
  const audience = auth.audience === undefined ? undefined : ([] as string[]).concat(auth.audience).join(',');
  const claims = {
    ...(auth.issuer !== undefined ? { [ENV.jwtIssuer]: auth.issuer } : {}),
    ...(audience !== undefined ? { [ENV.jwtAudience]: audience } : {}),
    ...(auth.allowTokensWithoutExpiry === true ? { [ENV.jwtAllowNoExpiry]: 'true' } : {}),
  };
  // Only the secret's ARN reaches the environment; the authorizer reads the value at cold start.
  if ('secret' in auth) return { [ENV.jwtSecretArn]: auth.secret.secretArn, ...claims };
  return { [ENV.jwksUrl]: auth.jwksUrl, ...claims };
}

function pascal(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
