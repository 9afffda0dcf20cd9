import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The stack outputs, named like the CDK stack's, plus what SDK clients need locally. */
export interface LocalOutputs {
  readonly WebSocketUrl: string;
  readonly TopicArn: string;
  /** The inbound topic (what clients send to backend services), when services are named. */
  readonly InboundTopicArn?: string;
  /** The events topic (receipts and lifecycle events), when events are on. */
  readonly EventsTopicArn?: string;
  readonly TableName: string;
  readonly Region: string;
  /** Give this to every AWS SDK client as `endpoint` (or set AWS_ENDPOINT_URL). */
  readonly AwsEndpointUrl: string;
  /** The management API endpoint (`@connections`) of the stage. */
  readonly CallbackUrl: string;
  readonly RejectedQueueUrl: string;
  readonly DeadLetterQueueUrl: string;
  /** The message-center page, when it is served. */
  readonly ConsoleUrl?: string;
  /** Which DynamoDB engine runs behind the endpoint. */
  readonly DynamoDbEngine: string;
}

/** Where `npm start` writes the outputs. */
export const OUTPUTS_FILE = '.pushline/outputs.json';

/** Writes the outputs as JSON for the CLI, tests and other tools. */
export async function writeOutputs(outputs: LocalOutputs, file: string = OUTPUTS_FILE): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(outputs, null, 2)}\n`);
}

/** Reads the outputs of the running local stack; a clear error when none runs. */
export async function readOutputs(file: string = OUTPUTS_FILE): Promise<LocalOutputs> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LocalOutputs;
  } catch {
    throw new Error(`No local stack found (${file} is missing). Start one with \`npm start\`.`);
  }
}
