import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type LocalOutputs, readOutputs } from '../../local/outputs.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.ts';
import { mintLocalToken } from '../../local/tokens.ts';
import { TestSocket } from './ws-client.ts';

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * What the integration scenarios run against: the local stack by default, or a deployed stack
 * (LocalStack or AWS) when PUSHLINE_TARGET=external, described by the outputs file in
 * PUSHLINE_OUTPUTS_FILE and tokens signed with PUSHLINE_JWT_SECRET.
 */
export interface Target {
  readonly outputs: LocalOutputs;
  /** The local stack, when the target is local (fault knobs, statistics). */
  readonly local?: LocalStack;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBDocumentClient;
  /** A token for the user, granting `topics` when given. */
  token(userId: string, expiresInSeconds?: number, topics?: readonly string[]): Promise<string>;
  /** Connects as the user, with a token granting `topics` (names or prefixes ending in `*`) when given. */
  connect(userId: string, options?: { topics?: readonly string[] }): Promise<TestSocket>;
  publish(envelope: unknown, attributes?: Record<string, string>): Promise<string>;
  /** Messages kept in the rejected queue so far (bounded wait). */
  rejected(waitSeconds?: number): Promise<{ body: string; reason: string }[]>;
  stop(): Promise<void>;
}

/**
 * PUSHLINE_STRICT_IAM=1 runs every local stack of the suite with strict IAM, and a stack whose
 * functions were refused a call fails when it stops: the template's grants are checked by every
 * scenario, not only by strict-iam.test.ts.
 */
const STRICT_IAM = process.env.PUSHLINE_STRICT_IAM === '1';

/** Starts (or attaches to) the target. */
export async function startTarget(options: LocalStackOptions = {}): Promise<Target> {
  const external = process.env.PUSHLINE_TARGET === 'external';
  const local = external
    ? undefined
    : await startLocalStack({
        quiet: true,
        console: false,
        retryDelaysMs: [100, 200],
        ...(STRICT_IAM ? { strictIam: true } : {}),
        ...options,
      });
  const outputs = local?.outputs ?? (await readOutputs(process.env.PUSHLINE_OUTPUTS_FILE));
  const secret = process.env.PUSHLINE_JWT_SECRET;
  const config = external
    ? { region: outputs.Region }
    : {
        region: outputs.Region,
        endpoint: outputs.AwsEndpointUrl,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      };
  const sns = new SNSClient(config);
  const sqs = new SQSClient(config);
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient(config));
  // A local stack that checks the audience (context `audience`) gets tokens for its first one.
  const audience = options.context?.audience?.split(',')[0]?.trim();
  const token = (userId: string, expiresInSeconds?: number, topics?: readonly string[]) =>
    mintLocalToken(userId, {
      expiresInSeconds,
      topics,
      ...(secret ? { secret } : {}),
      ...(audience ? { audience } : {}),
    });

  return {
    outputs,
    local,
    sns,
    sqs,
    dynamo,
    token,
    async connect(userId, options = {}) {
      const socket = await TestSocket.open(
        `${outputs.WebSocketUrl}?token=${encodeURIComponent(await token(userId, undefined, options.topics))}`,
      );
      return socket;
    },
    async publish(envelope, attributes = {}) {
      const answer = await sns.send(
        new PublishCommand({
          TopicArn: outputs.TopicArn,
          Message: typeof envelope === 'string' ? envelope : JSON.stringify(envelope),
          MessageAttributes: Object.fromEntries(
            Object.entries(attributes).map(([name, value]) => [
              name,
              { DataType: 'String', StringValue: value },
            ]),
          ),
        }),
      );
      return answer.MessageId ?? '';
    },
    async rejected(waitSeconds = 1) {
      const answer = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: outputs.RejectedQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: waitSeconds,
          MessageAttributeNames: ['All'],
        }),
      );
      return (answer.Messages ?? []).map((message) => ({
        body: message.Body ?? '',
        reason: message.MessageAttributes?.reason?.StringValue ?? '',
      }));
    },
    async stop() {
      sns.destroy();
      sqs.destroy();
      dynamo.destroy();
      await local?.stop();
      // Only where strict mode came from PUSHLINE_STRICT_IAM: strict-iam.test.ts is refused on purpose.
      const denials = STRICT_IAM && options.strictIam === undefined ? (local?.accessDenials() ?? []) : [];
      if (denials.length > 0) {
        const lines = denials.map((denial) => `${denial.principal}: ${denial.action} on ${denial.resource}`);
        throw new Error(`Strict IAM refused ${denials.length} call(s):\n${lines.join('\n')}`);
      }
    },
  };
}

/**
 * Whether the target has API Gateway WebSocket APIs. LocalStack's free image has not: scenarios
 * that need a socket skip themselves there (`npm run test:localstack` sets PUSHLINE_WEBSOCKET).
 */
export const WEBSOCKET_SKIP =
  process.env.PUSHLINE_WEBSOCKET === 'unavailable' ? 'the target has no API Gateway WebSocket API' : false;

/** A short unique suffix, so that scenarios sharing one stack never share users. */
export function unique(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}
