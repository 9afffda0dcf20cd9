import { type MessageAttributeValue, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';

const sqs = new SQSClient({});

/**
 * The largest SQS message a queue takes by default: body plus every attribute's name, type and
 * value. An SNS message can be 256 KB itself, so a rejected one plus its reason may not fit.
 */
export const SQS_MESSAGE_LIMIT_BYTES = 262_144;

/** What is kept of a rejected message: the body exactly as published, and why it was refused. */
export interface RejectedMessage {
  readonly body: string;
  readonly reason: string;
  readonly snsMessageId: string;
  readonly topicArn: string;
}

/**
 * Keeps a rejected message in the rejected queue; the reason travels as message attributes. A body
 * that does not fit beside its attributes is cut to fit (never dropped), and the message says so:
 * `truncated` = `true` and `originalBytes`, the size of the body as published.
 */
export async function keepRejected(queueUrl: string, rejected: RejectedMessage): Promise<void> {
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, ...rejectedQueueMessage(rejected) }));
}

/** The SQS body and attributes that keep `rejected`, within {@link SQS_MESSAGE_LIMIT_BYTES}. */
export function rejectedQueueMessage(rejected: RejectedMessage): {
  MessageBody: string;
  MessageAttributes: Record<string, MessageAttributeValue>;
} {
  // SQS refuses empty bodies; an empty SNS message is kept as a visible placeholder.
  const body = rejected.body === '' ? '(empty message)' : rejected.body;
  const attributes: Record<string, MessageAttributeValue> = {
    reason: { DataType: 'String', StringValue: rejected.reason.slice(0, 1024) },
    snsMessageId: { DataType: 'String', StringValue: rejected.snsMessageId },
    topicArn: { DataType: 'String', StringValue: rejected.topicArn },
  };
  const bodyBytes = Buffer.byteLength(body);
  if (bodyBytes + attributesBytes(attributes) <= SQS_MESSAGE_LIMIT_BYTES)
    return { MessageBody: body, MessageAttributes: attributes };

  attributes.truncated = { DataType: 'String', StringValue: 'true' };
  attributes.originalBytes = { DataType: 'Number', StringValue: String(bodyBytes) };
  const room = SQS_MESSAGE_LIMIT_BYTES - attributesBytes(attributes);
  return { MessageBody: truncateUtf8(body, room), MessageAttributes: attributes };
}

/** What SQS counts of the attributes: each name, data type and value, in bytes. */
function attributesBytes(attributes: Record<string, MessageAttributeValue>): number {
  let total = 0;
  for (const [name, value] of Object.entries(attributes))
    total +=
      Buffer.byteLength(name) +
      Buffer.byteLength(value.DataType ?? '') +
      Buffer.byteLength(value.StringValue ?? '');
  return total;
}

/** The longest prefix of `text` within `maxBytes` of UTF-8, never splitting a character. */
function truncateUtf8(text: string, maxBytes: number): string {
  const cut = Buffer.from(text, 'utf8').subarray(0, maxBytes).toString('utf8');
  // A character cut in two decodes as U+FFFD at the end: drop it.
  return cut.endsWith('\uFFFD') && !text.startsWith(cut) ? cut.slice(0, -1) : cut;
}
