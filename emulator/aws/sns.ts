/**
 * In-memory SNS for the local runtime, speaking awsQuery (what the installed @aws-sdk/client-sns
 * and the AWS CLI send): topics, Publish / PublishBatch with AWS's checks and error codes, and
 * delivery to Lambda subscriptions through filter policies as asynchronous invocations. Mobile push
 * (platform applications and endpoints, Publish to an endpoint ARN) is in sns-mobile.ts.
 */
import { randomUUID } from 'node:crypto';
import type { AsyncInvokeConfig, SubscriptionSpec, TopicSpec } from '../topology.ts';
import type { AsyncDelivery } from './async-invoker.ts';
import { AwsTopologyError } from './errors.ts';
import { matchesFilterPolicy, type SnsAttribute, validateFilterPolicy } from './filter-policy.ts';
import { type QueryParams, queryErrorResponse, queryResponse, xmlText } from './query-protocol.ts';
import {
  invalidParameter,
  MOBILE_ACTIONS,
  type MobileDelivery,
  type MobileDeliveryFilter,
  SnsError,
  SnsMobilePush,
} from './sns-mobile.ts';
import {
  type QueueSubscription,
  queueMessage,
  readQueueSubscription,
  type SqsMessageAttribute,
} from './sns-queues.ts';

export type { MobileDelivery, MobileDeliveryFilter } from './sns-mobile.ts';
export { SnsError } from './sns-mobile.ts';

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
/** SNS's default `MaximumMessageSize`: body plus every attribute's name, type and value. */
const DEFAULT_MAX_MESSAGE_BYTES = 262_144;
const TOPIC_NAME = /^[A-Za-z0-9_-]{1,256}$/;
const BATCH_ID = /^[A-Za-z0-9_-]{1,80}$/;
const MAX_BATCH_ENTRIES = 10;
/**
 * SNS bills each 64 KB chunk of a request's payload as one request; a PublishBatch is billed on the
 * payload of all its messages together (docs/local-runtime.md, "Counters").
 */
const BILLED_CHUNK_BYTES = 65_536;

/** Publish requests SNS accepted, and the requests AWS would bill for them. */
export interface SnsRequestCounts {
  /** Publish requests answered 200 (to a topic or a platform endpoint). */
  readonly publish: number;
  /** PublishBatch requests answered 200 (whatever share of their entries failed). */
  readonly publishBatch: number;
  /** Billed requests: per accepted request, one per started 64 KB of its accepted messages' payload. */
  readonly billed: number;
}

/** Billed SNS requests for one request carrying `payloadBytes` of messages (at least one). */
export function billedSnsRequests(payloadBytes: number): number {
  return Math.max(1, Math.ceil(payloadBytes / BILLED_CHUNK_BYTES));
}

/** A subscription: a Lambda function from the template, or an SQS queue subscribed at run time. */
interface Subscription {
  readonly arn: string;
  readonly functionName?: string;
  readonly queue?: QueueSubscription['queue'];
  readonly filterPolicy?: Readonly<Record<string, unknown>>;
  /** What Lambda does when the function keeps failing (Lambda subscriptions only). */
  readonly asyncInvoke?: AsyncInvokeConfig;
}

interface Topic {
  readonly name: string;
  readonly arn: string;
  readonly attributes: Record<string, string>;
  subscriptions: Subscription[];
}

interface PublishInput {
  readonly message: string;
  readonly structure?: string;
  readonly subject?: string;
  readonly attributes: Record<string, SnsAttribute>;
}

interface TopicMessage extends PublishInput {
  /** What a Lambda subscriber receives (differs from `message` with MessageStructure=json). */
  readonly delivered: string;
}

/** Options of the SNS emulator. */
export interface SnsEmulatorOptions {
  readonly region: string;
  readonly accountId: string;
  /** Origin of the endpoint (`http://host:port`), known once the server listens. */
  readonly baseUrl: () => string;
  readonly topics: readonly TopicSpec[];
  /** Whether a queue exists (dead-letter queues are checked at start). */
  readonly hasQueue: (name: string) => boolean;
  /** Hands one event for one function to the asynchronous invoker. */
  readonly deliver: (delivery: AsyncDelivery) => void;
  /** Puts one message on a queue (an SQS subscription's delivery). */
  readonly sendToQueue: (
    queueName: string,
    body: string,
    attributes: Record<string, SqsMessageAttribute>,
  ) => void;
}

/** Result of one awsQuery request. */
export interface QueryResult {
  readonly status: number;
  readonly xml: string;
}

/**
 * What tests reach of SNS directly, outside the AWS API (local only): the mobile pushes that would
 * have been sent, and disabling an endpoint as SNS does when APNs or FCM reports its token invalid.
 */
export interface SnsLocalControls {
  /** Mobile pushes recorded instead of sent, oldest first (the last 10,000 at most). */
  mobileDeliveries(filter?: MobileDeliveryFilter): MobileDelivery[];
  /** Forgets the recorded mobile pushes. */
  clearMobileDeliveries(): void;
  /** Sets the endpoint's Enabled to false; throws `SnsError` (code NotFound) for an unknown ARN. */
  disableEndpoint(endpointArn: string): void;
}

/** SNS topics, their Lambda subscriptions, mobile push, and the awsQuery request handler. */
export class SnsEmulator implements SnsLocalControls {
  private readonly topics = new Map<string, Topic>();
  private readonly mobile: SnsMobilePush;
  private publishedCount = 0;
  private requests = { publish: 0, publishBatch: 0, billed: 0 };

  constructor(private readonly options: SnsEmulatorOptions) {
    this.mobile = new SnsMobilePush({ region: options.region, accountId: options.accountId });
    for (const spec of options.topics) {
      const arn = this.topicArn(spec.name);
      const subscriptions = spec.subscriptions.map((sub, i): Subscription => {
        const where = `topic ${spec.name}, subscription ${i} (${sub.function})`;
        if (sub.filterPolicy !== undefined) validateFilterPolicy(sub.filterPolicy, `${where}: filterPolicy`);
        return {
          arn: `${arn}:${randomUUID()}`,
          functionName: sub.function,
          ...(sub.filterPolicy === undefined ? {} : { filterPolicy: sub.filterPolicy }),
          asyncInvoke: checkedAsyncConfig(sub, where, options.hasQueue),
        };
      });
      this.topics.set(arn, { name: spec.name, arn, attributes: {}, subscriptions });
    }
  }

  /** `arn:aws:sns:{region}:{account}:{name}`. */
  topicArn(name: string): string {
    return `arn:aws:sns:${this.options.region}:${this.options.accountId}:${name}`;
  }

  /** Messages accepted so far (Publish, to a topic or an endpoint, and each successful PublishBatch entry). */
  published(): number {
    return this.publishedCount;
  }

  /** Publish and PublishBatch requests accepted so far, and what AWS would bill for them. */
  requestCounts(): SnsRequestCounts {
    return { ...this.requests };
  }

  mobileDeliveries(filter?: MobileDeliveryFilter): MobileDelivery[] {
    return this.mobile.deliveries(filter);
  }

  clearMobileDeliveries(): void {
    this.mobile.clearDeliveries();
  }

  disableEndpoint(endpointArn: string): void {
    this.mobile.disableEndpoint(endpointArn);
  }

  /** Handles one awsQuery request already decoded into parameters. */
  handle(params: QueryParams, requestId: string): QueryResult {
    const action = params.get('Action') ?? '';
    try {
      const result = this.dispatch(action, params);
      return { status: 200, xml: queryResponse(action, XMLNS, result, requestId) };
    } catch (error) {
      if (error instanceof SnsError) {
        return {
          status: error.status,
          xml: queryErrorResponse(
            XMLNS,
            error.status >= 500 ? 'Receiver' : 'Sender',
            error.code,
            error.message,
            requestId,
          ),
        };
      }
      throw error;
    }
  }

  private dispatch(action: string, params: QueryParams): string | undefined {
    if (MOBILE_ACTIONS.has(action)) return this.mobile.dispatch(action, params);
    switch (action) {
      case 'CreateTopic':
        return xmlText('TopicArn', this.createTopic(params));
      case 'DeleteTopic': {
        this.topics.delete(this.requiredParam(params, 'TopicArn'));
        return undefined;
      }
      case 'ListTopics':
        return this.listTopics(params);
      case 'GetTopicAttributes':
        return this.getTopicAttributes(params);
      case 'SetTopicAttributes': {
        const topic = this.topic(this.requiredParam(params, 'TopicArn'));
        const name = this.requiredParam(params, 'AttributeName');
        const value = params.get('AttributeValue') ?? '';
        if (name === 'MaximumMessageSize') this.checkMaximumMessageSize(value);
        topic.attributes[name] = value;
        return undefined;
      }
      case 'ListSubscriptionsByTopic': {
        const topic = this.topic(this.requiredParam(params, 'TopicArn'));
        return `<Subscriptions>${topic.subscriptions.map((s) => this.subscriptionXml(topic, s)).join('')}</Subscriptions>`;
      }
      case 'ListSubscriptions': {
        const all = [...this.topics.values()].flatMap((t) =>
          t.subscriptions.map((s) => this.subscriptionXml(t, s)),
        );
        return `<Subscriptions>${all.join('')}</Subscriptions>`;
      }
      case 'Subscribe':
        return xmlText('SubscriptionArn', this.subscribe(params));
      case 'Unsubscribe': {
        const arn = this.requiredParam(params, 'SubscriptionArn');
        for (const topic of this.topics.values()) {
          topic.subscriptions = topic.subscriptions.filter((sub) => sub.arn !== arn);
        }
        return undefined;
      }
      case 'Publish':
        return xmlText('MessageId', this.publish(params));
      case 'PublishBatch':
        return this.publishBatch(params);
      default:
        throw new SnsError(
          'InvalidAction',
          `The action ${action || '(none)'} is not valid for this endpoint.`,
        );
    }
  }

  private requiredParam(params: QueryParams, name: string): string {
    const value = params.get(name);
    if (value === undefined) throw invalidParameter(`${name} is required`);
    return value;
  }

  private topic(arn: string): Topic {
    const topic = this.topics.get(arn);
    if (topic === undefined) throw new SnsError('NotFound', 'Topic does not exist', 404);
    return topic;
  }

  private checkMaximumMessageSize(value: string): void {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1024 || n > 1_048_576) {
      throw invalidParameter('Attributes Reason: MaximumMessageSize must be an integer from 1024 to 1048576');
    }
  }

  private createTopic(params: QueryParams): string {
    const name = this.requiredParam(params, 'Name');
    const base = name.endsWith('.fifo') ? name.slice(0, -5) : name;
    if (!TOPIC_NAME.test(base)) {
      throw invalidParameter(
        'Topic Name: must be 1-256 alphanumeric characters, hyphens or underscores (and .fifo for FIFO topics)',
      );
    }
    const attributes: Record<string, string> = {};
    for (const { key, prefix } of params.entries('Attributes', 'key')) {
      attributes[key] = params.get(`${prefix}.value`) ?? '';
    }
    if (attributes.MaximumMessageSize !== undefined)
      this.checkMaximumMessageSize(attributes.MaximumMessageSize);
    const arn = this.topicArn(name);
    const existing = this.topics.get(arn);
    if (existing !== undefined) {
      for (const [key, value] of Object.entries(attributes)) {
        if ((existing.attributes[key] ?? '') !== value) {
          throw invalidParameter('Attributes Reason: Topic already exists with different attributes');
        }
      }
      return arn;
    }
    this.topics.set(arn, { name, arn, attributes, subscriptions: [] });
    return arn;
  }

  private listTopics(params: QueryParams): string {
    const arns = [...this.topics.keys()].sort();
    const start = Number(params.get('NextToken') ?? '0') || 0;
    const page = arns.slice(start, start + 100);
    const members = page.map((arn) => `<member>${xmlText('TopicArn', arn)}</member>`).join('');
    const next = start + 100 < arns.length ? xmlText('NextToken', String(start + 100)) : '';
    return `<Topics>${members}</Topics>${next}`;
  }

  private getTopicAttributes(params: QueryParams): string {
    const topic = this.topic(this.requiredParam(params, 'TopicArn'));
    const attributes: Record<string, string> = {
      TopicArn: topic.arn,
      Owner: this.options.accountId,
      DisplayName: '',
      SubscriptionsConfirmed: String(topic.subscriptions.length),
      SubscriptionsPending: '0',
      SubscriptionsDeleted: '0',
      ...topic.attributes,
    };
    const entries = Object.entries(attributes)
      .map(([key, value]) => `<entry>${xmlText('key', key)}${xmlText('value', value)}</entry>`)
      .join('');
    return `<Attributes>${entries}</Attributes>`;
  }

  private subscriptionXml(topic: Topic, sub: Subscription): string {
    const endpoint =
      sub.queue?.arn ??
      `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${sub.functionName}`;
    return (
      `<member>${xmlText('SubscriptionArn', sub.arn)}${xmlText('Owner', this.options.accountId)}` +
      `${xmlText('Protocol', sub.queue ? 'sqs' : 'lambda')}${xmlText('Endpoint', endpoint)}${xmlText('TopicArn', topic.arn)}</member>`
    );
  }

  /** Subscribe (SQS queues only, see sns-queues.ts); the same queue again is the same subscription. */
  private subscribe(params: QueryParams): string {
    const topic = this.topic(this.requiredParam(params, 'TopicArn'));
    const request = readQueueSubscription(params, this.options.hasQueue);
    const existing = topic.subscriptions.find((sub) => sub.queue?.arn === request.queue.arn);
    if (existing) return existing.arn;
    const arn = `${topic.arn}:${randomUUID()}`;
    topic.subscriptions.push({ arn, ...request });
    return arn;
  }

  /** Reads and checks one message (Publish's parameters, or one PublishBatch entry's). */
  private readMessage(params: QueryParams, prefix: string): PublishInput {
    const message = params.get(`${prefix}Message`);
    if (message === undefined || message.length === 0) throw invalidParameter('Empty message');
    const subject = params.get(`${prefix}Subject`);
    if (subject !== undefined && (subject.length === 0 || subject.length > 100 || /[\r\n]/.test(subject))) {
      throw invalidParameter('Subject');
    }
    const structure = params.get(`${prefix}MessageStructure`);
    if (structure !== undefined && structure !== 'json') throw invalidParameter('MessageStructure');
    const attributes: Record<string, SnsAttribute> = {};
    for (const { key: name, prefix: entry } of params.entries(`${prefix}MessageAttributes`, 'Name')) {
      const type = params.get(`${entry}.Value.DataType`) ?? '';
      const stringValue = params.get(`${entry}.Value.StringValue`);
      const binaryValue = params.get(`${entry}.Value.BinaryValue`);
      attributes[name] = this.checkAttribute(name, type, stringValue, binaryValue);
    }
    return {
      message,
      attributes,
      ...(structure === undefined ? {} : { structure }),
      ...(subject === undefined ? {} : { subject }),
    };
  }

  /** One message for a topic: checked, with what its Lambda subscribers get. */
  private readTopicMessage(params: QueryParams, prefix: string): TopicMessage {
    const input = this.readMessage(params, prefix);
    return { ...input, delivered: this.lambdaMessage(input.message, input.structure) };
  }

  private checkAttribute(
    name: string,
    type: string,
    stringValue: string | undefined,
    binaryValue: string | undefined,
  ): SnsAttribute {
    const invalid = (why: string): SnsError =>
      new SnsError('ParameterValueInvalid', `The message attribute '${name}' ${why}`);
    const base = type.split('.')[0];
    if (type === 'String.Array') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(stringValue ?? '');
      } catch {
        parsed = undefined;
      }
      if (!Array.isArray(parsed)) throw invalid('has an invalid message attribute value: not a JSON array');
      return { type, value: stringValue ?? '' };
    }
    if (base === 'String' || base === 'Number') {
      if (stringValue === undefined || stringValue.length === 0)
        throw invalid('must contain non-empty message attribute value');
      if (base === 'Number' && !Number.isFinite(Number(stringValue))) {
        throw invalid(`with type 'Number' must have a valid numeric value`);
      }
      return { type, value: stringValue };
    }
    if (base === 'Binary') {
      if (binaryValue === undefined || binaryValue.length === 0)
        throw invalid('must contain non-empty message attribute value');
      return { type, value: binaryValue };
    }
    throw invalid(
      'has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.',
    );
  }

  /** Bytes SNS counts toward the size limit: body plus each attribute's name, type and value. */
  private messageBytes(input: PublishInput): number {
    let size = Buffer.byteLength(input.message);
    for (const [name, attribute] of Object.entries(input.attributes)) {
      size += Buffer.byteLength(name) + Buffer.byteLength(attribute.type);
      size += attribute.type.startsWith('Binary')
        ? Buffer.from(attribute.value, 'base64').length
        : Buffer.byteLength(attribute.value);
    }
    return size;
  }

  private maxMessageBytes(topic: Topic): number {
    const configured = Number(topic.attributes.MaximumMessageSize);
    return Number.isInteger(configured) && configured > 0 ? configured : DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** The message a Lambda subscriber gets: with MessageStructure=json, its `lambda` or `default` entry. */
  private lambdaMessage(message: string, structure: string | undefined): string {
    if (structure !== 'json') return message;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      throw invalidParameter('Message Structure - JSON message body failed to parse');
    }
    const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    if (typeof record.default !== 'string') {
      throw invalidParameter('Message Structure - No default entry in JSON message body');
    }
    return typeof record.lambda === 'string' ? record.lambda : record.default;
  }

  private topicFromParams(params: QueryParams): Topic {
    if (params.get('PhoneNumber') !== undefined) {
      throw invalidParameter('PhoneNumber Reason: SMS is not emulated by the local runtime');
    }
    const arn = params.get('TopicArn') ?? params.get('TargetArn');
    if (arn === undefined)
      throw invalidParameter('TopicArn or TargetArn Reason: no value for required parameter');
    return this.topic(arn);
  }

  private publish(params: QueryParams): string {
    const targetArn = params.get('TargetArn');
    if (
      targetArn !== undefined &&
      params.get('TopicArn') === undefined &&
      this.mobile.isEndpointArn(targetArn)
    ) {
      return this.publishToEndpoint(targetArn, params);
    }
    const topic = this.topicFromParams(params);
    const input = this.readTopicMessage(params, '');
    const bytes = this.messageBytes(input);
    if (bytes > this.maxMessageBytes(topic)) throw invalidParameter('Message too long');
    const messageId = this.accept(topic, input);
    this.countRequest('publish', bytes);
    return messageId;
  }

  /** Publish to a platform endpoint: recorded as the push SNS would have sent, not sent. */
  private publishToEndpoint(endpointArn: string, params: QueryParams): string {
    const endpoint = this.mobile.publishTarget(endpointArn);
    const input = this.readMessage(params, '');
    const bytes = this.messageBytes(input);
    if (bytes > DEFAULT_MAX_MESSAGE_BYTES) throw invalidParameter('Message too long');
    const messageId = this.mobile.publish(endpoint, input);
    this.publishedCount += 1;
    this.countRequest('publish', bytes);
    return messageId;
  }

  private countRequest(kind: 'publish' | 'publishBatch', payloadBytes: number): void {
    this.requests[kind] += 1;
    this.requests.billed += billedSnsRequests(payloadBytes);
  }

  // PublishBatch takes a topic ARN only (AWS's API has no TargetArn for it), so an endpoint ARN is
  // looked up as a topic and answered NotFound.
  private publishBatch(params: QueryParams): string {
    const topic = this.topicFromParams(params);
    const entries = params.members('PublishBatchRequestEntries');
    if (entries.length === 0) {
      throw new SnsError('EmptyBatchRequest', 'The batch request does not contain any entries.');
    }
    if (entries.length > MAX_BATCH_ENTRIES) {
      throw new SnsError(
        'TooManyEntriesInBatchRequest',
        `The batch request contains more entries than permissible (${MAX_BATCH_ENTRIES}).`,
      );
    }
    const ids = new Set<string>();
    for (const entry of entries) {
      const id = params.get(`${entry}.Id`) ?? '';
      if (!BATCH_ID.test(id)) {
        throw new SnsError(
          'InvalidBatchEntryId',
          'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
        );
      }
      if (ids.has(id)) {
        throw new SnsError(
          'BatchEntryIdsNotDistinct',
          'Two or more batch entries in the request have the same Id.',
        );
      }
      ids.add(id);
    }
    const successful: string[] = [];
    const failed: string[] = [];
    const accepted: TopicMessage[] = [];
    let total = 0;
    for (const entry of entries) {
      const id = params.get(`${entry}.Id`) ?? '';
      try {
        const input = this.readTopicMessage(params, `${entry}.`);
        total += this.messageBytes(input);
        accepted.push(input);
        successful.push(id);
      } catch (error) {
        if (!(error instanceof SnsError)) throw error;
        failed.push(
          `<member>${xmlText('Id', id)}${xmlText('Code', error.code)}${xmlText('Message', error.message)}${xmlText('SenderFault', true)}</member>`,
        );
      }
    }
    // The limit applies to the whole batch, checked before any entry is published.
    if (total > this.maxMessageBytes(topic)) {
      throw new SnsError(
        'BatchRequestTooLong',
        'The length of all the messages put together is more than the limit.',
      );
    }
    const succeededXml = accepted.map((input, i) => {
      const messageId = this.accept(topic, input);
      return `<member>${xmlText('Id', successful[i] ?? '')}${xmlText('MessageId', messageId)}</member>`;
    });
    // One request, billed on the payload of the messages it published together.
    this.countRequest('publishBatch', total);
    return `<Successful>${succeededXml.join('')}</Successful><Failed>${failed.join('')}</Failed>`;
  }

  /** Records the message and hands one event per matching subscription to the invoker. */
  private accept(topic: Topic, input: TopicMessage): string {
    const message = input.delivered;
    const messageId = randomUUID();
    const timestamp = new Date().toISOString();
    this.publishedCount += 1;
    const base = this.options.baseUrl();
    const eventAttributes: Record<string, { Type: string; Value: string }> = {};
    for (const [name, attribute] of Object.entries(input.attributes)) {
      eventAttributes[name] = { Type: attribute.type, Value: attribute.value };
    }
    for (const sub of topic.subscriptions) {
      if (!matchesFilterPolicy(sub.filterPolicy, input.attributes)) continue;
      if (sub.queue !== undefined) {
        const { body, attributes } = queueMessage(sub.queue.raw, {
          topicArn: topic.arn,
          subscriptionArn: sub.arn,
          messageId,
          timestamp,
          baseUrl: base,
          message: input.delivered,
          subject: input.subject,
          attributes: input.attributes,
        });
        this.options.sendToQueue(sub.queue.name, body, attributes);
        continue;
      }
      const event = {
        Records: [
          {
            EventSource: 'aws:sns',
            EventVersion: '1.0',
            EventSubscriptionArn: sub.arn,
            Sns: {
              Type: 'Notification',
              MessageId: messageId,
              TopicArn: topic.arn,
              Subject: input.subject ?? null,
              Message: message,
              Timestamp: timestamp,
              SignatureVersion: '1',
              // Not a real signature: the local runtime signs nothing (see docs/local-runtime-aws.md).
              Signature: 'TE9DQUwtVU5TSUdORUQ=',
              SigningCertUrl: `${base}/SimpleNotificationService-local.pem`,
              UnsubscribeUrl: `${base}/?Action=Unsubscribe&SubscriptionArn=${sub.arn}`,
              MessageAttributes: eventAttributes,
            },
          },
        ],
      };
      this.options.deliver({
        functionName: sub.functionName as string,
        event,
        source: `SNS topic ${topic.name}`,
        ...sub.asyncInvoke,
      });
    }
    return messageId;
  }
}

/** The function's asynchronous-invocation settings, refused as Lambda's API would refuse them. */
function checkedAsyncConfig(
  sub: SubscriptionSpec,
  where: string,
  hasQueue: (name: string) => boolean,
): AsyncInvokeConfig {
  for (const [what, queue] of [
    ['dead-letter queue', sub.deadLetterQueue],
    ['on-failure destination', sub.onFailureQueue],
  ] as const) {
    if (queue !== undefined && !hasQueue(queue))
      throw new AwsTopologyError(`${where}: ${what} ${queue} is not among the queues`);
  }
  const { maximumRetryAttempts: retries, maximumEventAgeSeconds: age } = sub;
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0 && retries <= 2))
    throw new AwsTopologyError(`${where}: maximumRetryAttempts must be 0, 1 or 2 (got ${retries})`);
  if (age !== undefined && !(Number.isInteger(age) && age >= 60 && age <= 21_600))
    throw new AwsTopologyError(`${where}: maximumEventAgeSeconds must be 60 to 21600 (got ${age})`);
  return {
    ...(sub.deadLetterQueue === undefined ? {} : { deadLetterQueue: sub.deadLetterQueue }),
    ...(sub.onFailureQueue === undefined ? {} : { onFailureQueue: sub.onFailureQueue }),
    ...(retries === undefined ? {} : { maximumRetryAttempts: retries }),
    ...(age === undefined ? {} : { maximumEventAgeSeconds: age }),
  };
}
