import { type MessageAttributeValue, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { RejectionCode } from '../shared/errors.ts';

const sqs = new SQSClient({});

/**
 * The largest SQS message a queue takes by default: body plus every attribute's name, type and
 * value. An SNS message can be 256 KB itself, so a rejected one plus its reason may not fit.
 */
export const SQS_MESSAGE_LIMIT_BYTES = 262_144;

/**
 * Characters an SQS message (body or attribute) may not hold: SQS takes only #x9, #xA, #xD, #x20 to
 * #xD7FF, #xE000 to #xFFFD and #x10000 to #x10FFFF, and refuses the whole message otherwise.
 */
const NOT_FOR_SQS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const NOT_FOR_SQS_ALL = new RegExp(NOT_FOR_SQS.source, 'gu');

/** What is kept of a rejected message: the body exactly as published, and why it was refused. */
export interface RejectedMessage {
  readonly body: string;
  /** Why, as a stable code, kept as the attribute `code`. */
  readonly code: RejectionCode;
  readonly reason: string;
  readonly snsMessageId: string;
  readonly topicArn: string;
}

/**
 * Keeps a rejected message in the rejected queue; the reason travels as message attributes. A body
 * that does not fit beside its attributes is cut to fit (never dropped), and the message says so:
 * `truncated` = `true` and `originalBytes`, the size of the body as published. A body holding
 * characters SQS refuses (control characters, for one) is kept as base64 of its UTF-8, with
 * `encoding` = `base64`; such characters in the reason become U+FFFD.
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
    code: { DataType: 'String', StringValue: rejected.code },
    reason: {
      DataType: 'String',
      StringValue: rejected.reason.slice(0, 1024).replace(NOT_FOR_SQS_ALL, '\uFFFD'),
    },
    snsMessageId: { DataType: 'String', StringValue: rejected.snsMessageId },
    topicArn: { DataType: 'String', StringValue: rejected.topicArn },
  };
  const base64 = NOT_FOR_SQS.test(body);
  if (base64) attributes.encoding = { DataType: 'String', StringValue: 'base64' };
  const bytes = Buffer.from(body, 'utf8');
  const kept = base64 ? bytes.toString('base64') : body;
  if (Buffer.byteLength(kept) + attributesBytes(attributes) <= SQS_MESSAGE_LIMIT_BYTES)
    return { MessageBody: kept, MessageAttributes: attributes };

  attributes.truncated = { DataType: 'String', StringValue: 'true' };
  attributes.originalBytes = { DataType: 'Number', StringValue: String(bytes.length) };
  const room = SQS_MESSAGE_LIMIT_BYTES - attributesBytes(attributes);
  // Base64 takes 4 characters for every 3 bytes.
  const cut = base64
    ? bytes.subarray(0, Math.floor(room / 4) * 3).toString('base64')
    : truncateUtf8(body, room);
  return { MessageBody: cut, MessageAttributes: attributes };
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
