/**
 * What the LocalStack scripts share: where LocalStack answers, whether it runs, whether its image
 * emulates API Gateway v2 WebSocket APIs (a paid plan), and the environment handed to the scenarios.
 * Nothing here needs Docker; every call is bounded in time.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ENV } from '../functions/shared/environment.ts';

/** LocalStack's edge endpoint (loopback, as docker-compose.yml publishes it). */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:4566';
/** Region and credentials LocalStack accepts; never real ones, so nothing reaches an AWS account. */
export const LOCALSTACK_REGION = 'us-east-1';
export const LOCALSTACK_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' } as const;
/** `cdk deploy --outputs-file` target of `npm run deploy:localstack`. */
export const CDK_OUTPUTS_FILE = '.pushline/localstack-cdk-outputs.json';
/** Outputs in the local runtime's shape (`.pushline/outputs.json`), for the scenarios. */
export const OUTPUTS_FILE = '.pushline/localstack-outputs.json';

/** LocalStack is not running, or answers in a way the scripts cannot use. */
export class LocalStackError extends Error {
  override readonly name = 'LocalStackError';
  constructor(
    readonly code: 'NOT_RUNNING' | 'NOT_DEPLOYED' | 'COMMAND_FAILED',
    message: string,
  ) {
    super(message);
  }
}

/** The endpoint in use: `AWS_ENDPOINT_URL` when set, else LocalStack's default. */
export function localStackEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.AWS_ENDPOINT_URL ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** What `/_localstack/health` reports. */
export interface LocalStackHealth {
  readonly version?: string;
  readonly edition?: string;
  readonly services: Readonly<Record<string, string>>;
}

/** Waits until LocalStack answers its health check (polling every second, at most `timeoutMs`). */
export async function waitForLocalStack(endpoint: string, timeoutMs = 60_000): Promise<LocalStackHealth> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer';
  for (let attempt = 0; attempt < Math.ceil(timeoutMs / 1000) + 1; attempt++) {
    try {
      const response = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(3_000) });
      if (response.ok) {
        const body = (await response.json()) as Partial<LocalStackHealth>;
        return { version: body.version, edition: body.edition, services: body.services ?? {} };
      }
      lastError = `HTTP ${response.status}`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  throw new LocalStackError(
    'NOT_RUNNING',
    `LocalStack does not answer at ${endpoint} (${lastError}). Start it with \`npm run localstack:up\` (needs Docker).`,
  );
}

/** Whether the running image emulates API Gateway v2 (WebSocket APIs and @connections). */
export interface WebSocketSupport {
  readonly available: boolean;
  /** What LocalStack answered, for the report. */
  readonly detail: string;
  /** WebSocket APIs LocalStack knows, with the endpoint it serves each one on. */
  readonly apis: readonly {
    readonly apiId: string;
    readonly apiEndpoint?: string;
    readonly protocolType?: string;
  }[];
}

/**
 * Asks LocalStack's API Gateway v2 for its APIs. The free image answers 501 ("not included in your
 * license" / "not yet implemented"); an image with the service lists the APIs. LocalStack does not
 * check signatures, so a well-formed but unsigned Authorization header routes the request.
 */
export async function probeWebSocketSupport(endpoint: string): Promise<WebSocketSupport> {
  const response = await fetch(`${endpoint}/v2/apis`, {
    headers: {
      authorization: `AWS4-HMAC-SHA256 Credential=test/20250101/${LOCALSTACK_REGION}/apigateway/aws4_request, SignedHeaders=host;x-amz-date, Signature=0`,
      'x-amz-date': '20250101T000000Z',
    },
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  if (!response.ok) {
    return {
      available: false,
      detail: `GET /v2/apis → HTTP ${response.status}: ${text.slice(0, 200)}`,
      apis: [],
    };
  }
  const body = JSON.parse(text) as {
    items?: { apiId: string; apiEndpoint?: string; protocolType?: string }[];
  };
  const apis = (body.items ?? []).map(({ apiId, apiEndpoint, protocolType }) => ({
    apiId,
    apiEndpoint,
    protocolType,
  }));
  return { available: true, detail: `GET /v2/apis → ${apis.length} API(s)`, apis };
}

/** The stack outputs as the local runtime names them (see local/outputs.ts), plus the secret's ARN. */
export interface ExternalOutputs {
  readonly WebSocketUrl: string;
  readonly TopicArn: string;
  readonly TableName: string;
  readonly CallbackUrl: string;
  readonly RejectedQueueUrl: string;
  readonly DeadLetterQueueUrl: string;
  readonly Region: string;
  readonly AwsEndpointUrl: string;
  readonly JwtSecretArn?: string;
  readonly DynamoDbEngine: string;
}

/**
 * Turns `cdk deploy --outputs-file` content into the local runtime's outputs shape. The WebSocket
 * URL is the one LocalStack serves the API on when it reports one (its own host and port), else
 * the template's.
 */
export function externalOutputs(
  cdkOutputs: Record<string, Record<string, string>>,
  endpoint: string,
  support: WebSocketSupport,
): ExternalOutputs {
  const stacks = Object.entries(cdkOutputs);
  const [stackName, outputs] = stacks[0] ?? [];
  if (stackName === undefined || outputs === undefined || stacks.length !== 1) {
    throw new LocalStackError('NOT_DEPLOYED', `Expected the outputs of one stack, found ${stacks.length}.`);
  }
  const required = [
    'WebSocketUrl',
    'TopicArn',
    'TableName',
    'CallbackUrl',
    'RejectedQueueUrl',
    'DeadLetterQueueUrl',
  ];
  const missing = required.filter((key) => outputs[key] === undefined);
  if (missing.length > 0) {
    throw new LocalStackError('NOT_DEPLOYED', `Stack ${stackName} has no output ${missing.join(', ')}.`);
  }
  const templateUrl = outputs.WebSocketUrl as string;
  const apiId = /^wss?:\/\/([^./]+)\./.exec(templateUrl)?.[1];
  const stage = new URL(templateUrl).pathname.replace(/^\//, '');
  const served = support.apis.find((api) => api.apiId === apiId)?.apiEndpoint;
  return {
    WebSocketUrl: served ? `${served.replace(/\/+$/, '')}/${stage}` : templateUrl,
    TopicArn: outputs.TopicArn as string,
    TableName: outputs.TableName as string,
    CallbackUrl: outputs.CallbackUrl as string,
    RejectedQueueUrl: outputs.RejectedQueueUrl as string,
    DeadLetterQueueUrl: outputs.DeadLetterQueueUrl as string,
    Region: LOCALSTACK_REGION,
    AwsEndpointUrl: endpoint,
    ...(outputs.JwtSecretArn ? { JwtSecretArn: outputs.JwtSecretArn } : {}),
    DynamoDbEngine: 'LocalStack',
  };
}

/**
 * The environment the shared scenarios read to target LocalStack instead of the local runtime.
 * `PUSHLINE_WEBSOCKET=unavailable` tells WebSocket scenarios the image cannot run them.
 */
export function scenarioEnvironment(options: {
  readonly endpoint: string;
  readonly outputsFile: string;
  readonly support: WebSocketSupport;
  readonly jwtSecret?: string;
}): Record<string, string> {
  return {
    PUSHLINE_TARGET: 'external',
    PUSHLINE_OUTPUTS_FILE: options.outputsFile,
    PUSHLINE_WEBSOCKET: options.support.available ? 'available' : 'unavailable',
    AWS_ENDPOINT_URL: options.endpoint,
    AWS_REGION: LOCALSTACK_REGION,
    AWS_DEFAULT_REGION: LOCALSTACK_REGION,
    ...LOCALSTACK_CREDENTIALS,
    // The harness mints tokens with the deployed stack's HS256 key.
    ...(options.jwtSecret ? { [ENV.jwtSecret]: options.jwtSecret } : {}),
  };
}

/** Writes JSON, creating the folder. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Reads JSON; a clear error naming the step that writes the file. */
export async function readJson<T>(file: string, writtenBy: string): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    throw new LocalStackError('NOT_DEPLOYED', `${file} is missing: run \`${writtenBy}\` first.`);
  }
}
