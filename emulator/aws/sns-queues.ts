/**
 * SNS subscriptions of SQS queues, made at run time with Subscribe (a service's queue on a topic):
 * reading the request, and the message a queue receives, raw or as SNS's notification JSON.
 */
import type { SnsAttribute } from './filter-policy.ts';
import { validateFilterPolicy } from './filter-policy.ts';
import type { QueryParams } from './query-protocol.ts';
import { invalidParameter } from './sns-mobile.ts';

/** A message attribute as SQS takes it. */
export interface SqsMessageAttribute {
  readonly DataType: string;
  readonly StringValue?: string;
  readonly BinaryValue?: string;
}

/** What a Subscribe request for a queue asks for. */
export interface QueueSubscription {
  readonly queue: { readonly name: string; readonly arn: string; readonly raw: boolean };
  readonly filterPolicy?: Record<string, unknown>;
}

const QUEUE_ARN = /^arn:aws:sqs:([^:]+):(\d{12}):([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$/;

/**
 * Reads Subscribe's parameters for an SQS endpoint of this account, with the subscription
 * attributes `FilterPolicy` (on message attributes) and `RawMessageDelivery`. Lambda subscriptions
 * come from the template; other protocols are not emulated and are refused with the reason.
 */
export function readQueueSubscription(
  params: QueryParams,
  hasQueue: (name: string) => boolean,
): QueueSubscription {
  const protocol = params.get('Protocol') ?? '';
  if (protocol !== 'sqs') {
    throw invalidParameter(`Protocol: the local runtime subscribes only sqs at run time, not "${protocol}"`);
  }
  const endpoint = params.get('Endpoint') ?? '';
  const match = QUEUE_ARN.exec(endpoint);
  if (match === null) throw invalidParameter('Invalid SQS endpoint ARN');
  const name = match[3] as string;
  if (!hasQueue(name)) throw invalidParameter(`Endpoint: no queue ${name}`);
  const attributes = new Map<string, string>();
  for (let i = 1; params.has(`Attributes.entry.${i}.key`); i++) {
    attributes.set(
      params.get(`Attributes.entry.${i}.key`) ?? '',
      params.get(`Attributes.entry.${i}.value`) ?? '',
    );
  }
  let filterPolicy: Record<string, unknown> | undefined;
  for (const [attribute, value] of attributes) {
    if (attribute === 'FilterPolicy') {
      try {
        filterPolicy = JSON.parse(value) as Record<string, unknown>;
      } catch {
        throw invalidParameter('FilterPolicy: failed to parse JSON');
      }
      validateFilterPolicy(filterPolicy, 'FilterPolicy');
    } else if (attribute === 'FilterPolicyScope') {
      if (value !== 'MessageAttributes') {
        throw invalidParameter('FilterPolicyScope: the local runtime filters on MessageAttributes only');
      }
    } else if (attribute === 'RawMessageDelivery') {
      if (value !== 'true' && value !== 'false') throw invalidParameter('RawMessageDelivery: true or false');
    } else {
      throw invalidParameter(`Attributes: unknown attribute ${attribute}`);
    }
  }
  return {
    queue: { name, arn: endpoint, raw: attributes.get('RawMessageDelivery') === 'true' },
    ...(filterPolicy === undefined ? {} : { filterPolicy }),
  };
}

/** One published message, as a queue subscription delivers it. */
export interface QueueDelivery {
  readonly topicArn: string;
  readonly subscriptionArn: string;
  readonly messageId: string;
  readonly timestamp: string;
  readonly baseUrl: string;
  readonly message: string;
  readonly subject?: string;
  readonly attributes: Readonly<Record<string, SnsAttribute>>;
}

/** The queue message: the message alone with its attributes (raw), or SNS's notification JSON. */
export function queueMessage(
  raw: boolean,
  delivery: QueueDelivery,
): { body: string; attributes: Record<string, SqsMessageAttribute> } {
  if (raw) {
    const attributes: Record<string, SqsMessageAttribute> = {};
    for (const [name, attribute] of Object.entries(delivery.attributes)) {
      attributes[name] =
        attribute.type === 'Binary'
          ? { DataType: attribute.type, BinaryValue: attribute.value }
          : { DataType: attribute.type, StringValue: attribute.value };
    }
    return { body: delivery.message, attributes };
  }
  const messageAttributes: Record<string, { Type: string; Value: string }> = {};
  for (const [name, attribute] of Object.entries(delivery.attributes)) {
    messageAttributes[name] = { Type: attribute.type, Value: attribute.value };
  }
  const notification = {
    Type: 'Notification',
    MessageId: delivery.messageId,
    TopicArn: delivery.topicArn,
    ...(delivery.subject === undefined ? {} : { Subject: delivery.subject }),
    Message: delivery.message,
    Timestamp: delivery.timestamp,
    SignatureVersion: '1',
    // Not a real signature: the local runtime signs nothing (see docs/local-runtime-aws.md).
    Signature: 'TE9DQUwtVU5TSUdORUQ=',
    SigningCertURL: `${delivery.baseUrl}/SimpleNotificationService-local.pem`,
    UnsubscribeURL: `${delivery.baseUrl}/?Action=Unsubscribe&SubscriptionArn=${delivery.subscriptionArn}`,
    ...(Object.keys(messageAttributes).length > 0 ? { MessageAttributes: messageAttributes } : {}),
  };
  return { body: JSON.stringify(notification), attributes: {} };
}
