/**
 * What the local runtime runs: functions, WebSocket APIs, topics, queues and tables.
 * It knows nothing of the app it runs: any API Gateway WebSocket app describes its own, by hand or
 * from its synthesized template (template-topology.ts).
 */

/** A Lambda function: a module exporting a handler, run with its own environment. */
export interface FunctionSpec {
  /** Logical name used by routes and subscriptions. */
  readonly name: string;
  /** Path of the module (TypeScript or JavaScript), absolute or relative to the working directory. */
  readonly entry: string;
  /** Name of the exported handler. @default 'handler' */
  readonly handler?: string;
  /** Environment variables of the function (the runtime adds AWS_REGION and the endpoint variables). */
  readonly environment?: Readonly<Record<string, string>>;
  /** Invocation timeout. @default 3 (Lambda's default) */
  readonly timeoutSeconds?: number;
  /** Memory size, as the template's `MemorySize`: reported to the function and billed in GB-seconds. @default 128 (Lambda's default) */
  readonly memorySizeMb?: number;
  /** Maximum concurrent instances (each handles one invocation at a time). @default 4 */
  readonly maxConcurrency?: number;
}

/** A REQUEST authorizer on `$connect`. */
export interface AuthorizerSpec {
  readonly function: string;
  /**
   * Identity sources, as in API Gateway: `route.request.querystring.NAME` or `route.request.header.NAME`.
   * A request lacking any of them is refused with 401 without calling the function.
   */
  readonly identitySource: readonly string[];
}

/** A route's Lambda proxy integration. */
export interface RouteSpec {
  readonly function: string;
  /**
   * Two-way route: a `body` the function returns is sent back to the calling connection
   * (as with a route response on API Gateway). @default false
   */
  readonly returnResponse?: boolean;
}

/** An API Gateway WebSocket API with one stage. */
export interface WebSocketApiSpec {
  readonly name: string;
  /** Stage name; the URL path is `/{stage}` and the management API is `/{stage}/@connections`. */
  readonly stage: string;
  /** Route selection on a top-level field of the JSON body. @default '$request.body.action' */
  readonly routeSelectionExpression?: string;
  /** Route key (`$connect`, `$disconnect`, `$default`, or an action) to its integration. */
  readonly routes: Readonly<Record<string, RouteSpec>>;
  readonly authorizer?: AuthorizerSpec;
}

/** A Lambda subscription of an SNS topic. */
export interface SubscriptionSpec extends AsyncInvokeConfig {
  readonly function: string;
  /** SNS filter policy on message attributes. */
  readonly filterPolicy?: Readonly<Record<string, unknown>>;
}

/**
 * What Lambda does with an asynchronous invocation that keeps failing: the function's
 * `DeadLetterConfig` and its `AWS::Lambda::EventInvokeConfig`. (An SNS subscription's redrive
 * policy is not among them: on AWS it only takes messages SNS could not hand to Lambda.)
 */
export interface AsyncInvokeConfig {
  /** The function's dead-letter queue: the event unchanged, with `RequestID`, `ErrorCode` and `ErrorMessage` attributes. */
  readonly deadLetterQueue?: string;
  /** The on-failure destination (an SQS queue): Lambda's invocation record, with the event as `requestPayload`. */
  readonly onFailureQueue?: string;
  /** Retries after a function error, 0 to 2. @default 2 */
  readonly maximumRetryAttempts?: number;
  /** An event older than this is not retried, 60 to 21,600. @default 21,600 (6 hours) */
  readonly maximumEventAgeSeconds?: number;
}

/** An SNS topic and its Lambda subscriptions. */
export interface TopicSpec {
  readonly name: string;
  readonly subscriptions: readonly SubscriptionSpec[];
}

/** A DynamoDB table with a string partition key, optional string sort key, TTL and GSIs. */
export interface TableSpec {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey?: string;
  readonly ttlAttribute?: string;
  readonly globalSecondaryIndexes?: readonly { name: string; partitionKey: string; sortKey?: string }[];
  /** Local indexes: the table's partition key with another sort key (projection: every attribute). */
  readonly localSecondaryIndexes?: readonly { name: string; sortKey: string }[];
}

/** Everything the local runtime brings up. */
export interface Topology {
  readonly functions: readonly FunctionSpec[];
  readonly webSocketApis: readonly WebSocketApiSpec[];
  readonly topics: readonly TopicSpec[];
  readonly queues: readonly string[];
  readonly tables: readonly TableSpec[];
}

/** Invokes a function synchronously; rejects with the function's error when it throws. */
export type Invoke = (functionName: string, event: unknown) => Promise<unknown>;

/** Error a function threw, as reported by the runtime (the Lambda error shape). */
export class FunctionError extends Error {
  override readonly name = 'FunctionError';
  constructor(
    readonly functionName: string,
    readonly errorType: string,
    message: string,
  ) {
    super(`${functionName} failed: ${errorType}: ${message}`);
  }
}

/** Local account id and region used in every ARN and URL the runtime makes. */
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';
