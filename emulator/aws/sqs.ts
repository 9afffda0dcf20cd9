/**
 * In-memory SQS for the local runtime, speaking what the installed @aws-sdk/client-sqs speaks:
 * awsJson1_0 (`X-Amz-Target: AmazonSQS.<Operation>`) with the awsQueryCompatible error convention
 * (an `x-amzn-query-error: <QueryCode>;Sender` header next to the JSON `__type`), so the SDK throws
 * errors with the same `name` as against AWS (`QueueDoesNotExist`, `ReceiptHandleIsInvalid`, …).
 * Standard queues only: FIFO ordering, deduplication, redrive policies and KMS are not emulated.
 */
import { createHash, randomUUID } from 'node:crypto';

/** A message attribute value as it travels on the wire (JSON protocol: binary values in base64). */
export interface SqsAttributeValue {
  readonly DataType: string;
  readonly StringValue?: string;
  readonly BinaryValue?: string;
}

/** An SQS error, rendered as AWS renders it. */
export class SqsError extends Error {
  override readonly name = 'SqsError';
  constructor(
    /** Shape name in the JSON protocol (`__type` suffix), e.g. `QueueDoesNotExist`. */
    readonly type: string,
    /** Legacy awsQuery code sent in `x-amzn-query-error`, e.g. `AWS.SimpleQueueService.NonExistentQueue`. */
    readonly queryCode: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }

  /** Stable code for callers narrowing on it. */
  get code(): string {
    return this.type;
  }
}

function invalidParameter(message: string): SqsError {
  return new SqsError('InvalidParameterValue', 'InvalidParameterValue', message);
}

function noSuchQueue(): SqsError {
  return new SqsError(
    'QueueDoesNotExist',
    'AWS.SimpleQueueService.NonExistentQueue',
    'The specified queue does not exist.',
  );
}

interface StoredMessage {
  readonly id: string;
  readonly body: string;
  readonly md5Body: string;
  readonly attributes: Readonly<Record<string, SqsAttributeValue>>;
  readonly sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
  receiptHandle?: string;
}

interface Queue {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly createdAt: number;
  modifiedAt: number;
  messages: StoredMessage[];
  readonly waiters: Set<() => void>;
}

/** What a send returns (the SDK validates `md5OfBody` against its own MD5 of the body). */
export interface SentMessage {
  readonly messageId: string;
  readonly md5OfBody: string;
  readonly md5OfAttributes?: string;
}

const DEFAULT_ATTRIBUTES: Readonly<Record<string, string>> = {
  VisibilityTimeout: '30',
  DelaySeconds: '0',
  ReceiveMessageWaitTimeSeconds: '0',
  MaximumMessageSize: '262144',
  MessageRetentionPeriod: '345600',
};

/** Settable attributes and their allowed integer ranges (AWS's). */
const ATTRIBUTE_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  VisibilityTimeout: [0, 43_200],
  DelaySeconds: [0, 900],
  ReceiveMessageWaitTimeSeconds: [0, 20],
  MaximumMessageSize: [1_024, 1_048_576],
  MessageRetentionPeriod: [60, 1_209_600],
};
/** Accepted and echoed back, without behaviour. */
const PASSIVE_ATTRIBUTES = new Set(['Policy', 'RedrivePolicy', 'RedriveAllowPolicy', 'SqsManagedSseEnabled']);
const READ_ONLY_ATTRIBUTES = [
  'QueueArn',
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
];
const SYSTEM_ATTRIBUTES = [
  'SenderId',
  'SentTimestamp',
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
];

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const BATCH_ID = /^[A-Za-z0-9_-]{1,80}$/;
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,256}$/;
// Characters SQS accepts in bodies and string attributes (XML 1.0's Char production).
// biome-ignore lint/suspicious/noControlCharactersInRegex: the allowed set starts with control characters
const INVALID_BODY_CHAR = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Hex MD5 of a string's UTF-8 bytes: `MD5OfBody` / `MD5OfMessageBody`. */
export function md5Hex(data: string | Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * `MD5OfMessageAttributes` as SQS computes it: attributes sorted by name, each encoded as
 * length-prefixed name, length-prefixed data type, a transport byte (1 string, 2 binary) and the
 * length-prefixed value, all lengths 4-byte big-endian.
 */
export function md5OfMessageAttributes(attributes: Readonly<Record<string, SqsAttributeValue>>): string {
  const chunks: Buffer[] = [];
  const lengthPrefixed = (bytes: Buffer): void => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name];
    if (value === undefined) continue;
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(value.DataType, 'utf8'));
    if (value.BinaryValue !== undefined && value.DataType.startsWith('Binary')) {
      chunks.push(Buffer.from([2]));
      lengthPrefixed(Buffer.from(value.BinaryValue, 'base64'));
    } else {
      chunks.push(Buffer.from([1]));
      lengthPrefixed(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return md5Hex(Buffer.concat(chunks));
}

function attributesSize(attributes: Readonly<Record<string, SqsAttributeValue>>): number {
  let size = 0;
  for (const [name, value] of Object.entries(attributes)) {
    size += Buffer.byteLength(name) + Buffer.byteLength(value.DataType);
    size +=
      value.BinaryValue !== undefined
        ? Buffer.from(value.BinaryValue, 'base64').length
        : Buffer.byteLength(value.StringValue ?? '');
  }
  return size;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function optionalString(input: Record<string, unknown>, name: string): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParameter(`${name} must be a string.`);
  return value;
}

function requiredString(input: Record<string, unknown>, name: string): string {
  const value = optionalString(input, name);
  if (value === undefined) {
    throw new SqsError(
      'MissingParameter',
      'MissingParameter',
      `The request must contain the parameter ${name}.`,
    );
  }
  return value;
}

function optionalInteger(
  input: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  reason: string,
): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw invalidParameter(`Value ${String(value)} for parameter ${name} is invalid. Reason: ${reason}`);
  }
  return n;
}

function stringList(input: Record<string, unknown>, name: string): string[] {
  const value = input[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function encodeReceiptHandle(queue: string, messageId: string): string {
  return Buffer.from(JSON.stringify([queue, messageId, randomUUID()])).toString('base64url');
}

function decodeReceiptHandle(handle: string): { queue: string; messageId: string } | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(handle, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 3 && parsed.every((p) => typeof p === 'string')) {
      return { queue: parsed[0] as string, messageId: parsed[1] as string };
    }
  } catch {
    // Falls through: not one of ours.
  }
  return undefined;
}

/** Options of the SQS emulator. */
export interface SqsEmulatorOptions {
  readonly region: string;
  readonly accountId: string;
  /** Origin of the endpoint (`http://host:port`), known once the server listens. */
  readonly baseUrl: () => string;
}

/** The queues and their messages, plus the JSON-protocol request handler. */
export class SqsEmulator {
  private readonly queues = new Map<string, Queue>();
  private closed = false;

  constructor(private readonly options: SqsEmulatorOptions) {}

  /** `http://host:port/{account}/{name}`, as the SDK expects a queue URL to look. */
  queueUrl(name: string): string {
    return `${this.options.baseUrl()}/${this.options.accountId}/${name}`;
  }

  /** `arn:aws:sqs:{region}:{account}:{name}`. */
  queueArn(name: string): string {
    return `arn:aws:sqs:${this.options.region}:${this.options.accountId}:${name}`;
  }

  /** Whether a queue of that name exists. */
  hasQueue(name: string): boolean {
    return this.queues.has(name);
  }

  /** Creates a queue, or returns the existing one when its attributes agree (CreateQueue is idempotent). */
  createQueue(name: string, attributes: Readonly<Record<string, string>> = {}): string {
    if (!QUEUE_NAME.test(name) && !(name.endsWith('.fifo') && QUEUE_NAME.test(name.slice(0, -5)))) {
      throw invalidParameter(
        'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length',
      );
    }
    const checked = this.checkAttributes(attributes);
    const existing = this.queues.get(name);
    if (existing !== undefined) {
      for (const [key, value] of Object.entries(checked)) {
        if (existing.attributes[key] !== value) {
          throw new SqsError(
            'QueueNameExists',
            'QueueAlreadyExists',
            `A queue already exists with the same name and a different value for attribute ${key}`,
          );
        }
      }
      return this.queueUrl(name);
    }
    const now = Date.now();
    this.queues.set(name, {
      name,
      attributes: { ...DEFAULT_ATTRIBUTES, ...checked },
      createdAt: now,
      modifiedAt: now,
      messages: [],
      waiters: new Set(),
    });
    return this.queueUrl(name);
  }

  /** Sends a message (used by the Lambda dead-letter path as well as SendMessage). */
  sendMessage(
    queueName: string,
    body: string,
    attributes: Readonly<Record<string, SqsAttributeValue>> = {},
    delaySeconds?: number,
  ): SentMessage {
    const queue = this.queues.get(queueName);
    if (queue === undefined) throw noSuchQueue();
    this.checkMessage(queue, body, attributes);
    const now = Date.now();
    const delay = delaySeconds ?? Number(queue.attributes.DelaySeconds);
    const hasAttributes = Object.keys(attributes).length > 0;
    const message: StoredMessage = {
      id: randomUUID(),
      body,
      md5Body: md5Hex(body),
      attributes,
      sentAt: now,
      visibleAt: now + delay * 1000,
      receiveCount: 0,
    };
    queue.messages.push(message);
    this.wake(queue);
    return {
      messageId: message.id,
      md5OfBody: message.md5Body,
      ...(hasAttributes ? { md5OfAttributes: md5OfMessageAttributes(attributes) } : {}),
    };
  }

  /** Wakes every long poll so the server can close. */
  close(): void {
    this.closed = true;
    for (const queue of this.queues.values()) this.wake(queue);
  }

  /**
   * Handles one JSON-protocol request. Returns the status, the extra headers and the JSON body.
   * `signal` aborts a long poll when the client goes away.
   */
  async handle(
    operation: string,
    rawBody: string,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: Record<string, string>; body: unknown }> {
    try {
      let input: Record<string, unknown>;
      try {
        input = asRecord(rawBody.length === 0 ? {} : JSON.parse(rawBody));
      } catch {
        return {
          status: 400,
          headers: {},
          body: { __type: 'com.amazon.coral.service#SerializationException', message: 'Malformed JSON' },
        };
      }
      const body = await this.dispatch(operation, input, signal);
      return { status: 200, headers: {}, body };
    } catch (error) {
      if (error instanceof SqsError) {
        return {
          status: error.status,
          headers: { 'x-amzn-query-error': `${error.queryCode};Sender` },
          body: { __type: `com.amazonaws.sqs#${error.type}`, message: error.message },
        };
      }
      throw error;
    }
  }

  private async dispatch(
    operation: string,
    input: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    switch (operation) {
      case 'CreateQueue': {
        const name = requiredString(input, 'QueueName');
        const attributes = Object.fromEntries(
          Object.entries(asRecord(input.Attributes)).map(([k, v]) => [k, String(v)]),
        );
        return { QueueUrl: this.createQueue(name, attributes) };
      }
      case 'GetQueueUrl': {
        const name = requiredString(input, 'QueueName');
        const owner = optionalString(input, 'QueueOwnerAWSAccountId');
        if (!this.queues.has(name) || (owner !== undefined && owner !== this.options.accountId)) {
          throw noSuchQueue();
        }
        return { QueueUrl: this.queueUrl(name) };
      }
      case 'ListQueues':
        return this.listQueues(input);
      case 'DeleteQueue': {
        const queue = this.queueFromUrl(input);
        this.queues.delete(queue.name);
        this.wake(queue);
        return {};
      }
      case 'GetQueueAttributes':
        return this.getQueueAttributes(input);
      case 'SetQueueAttributes': {
        const queue = this.queueFromUrl(input);
        const checked = this.checkAttributes(
          Object.fromEntries(Object.entries(asRecord(input.Attributes)).map(([k, v]) => [k, String(v)])),
        );
        Object.assign(queue.attributes, checked);
        queue.modifiedAt = Date.now();
        return {};
      }
      case 'PurgeQueue': {
        const queue = this.queueFromUrl(input);
        queue.messages = [];
        return {};
      }
      case 'SendMessage': {
        const queue = this.queueFromUrl(input);
        const sent = this.sendMessage(
          queue.name,
          requiredString(input, 'MessageBody'),
          this.wireAttributes(input.MessageAttributes),
          optionalInteger(input, 'DelaySeconds', 0, 900, 'Must be between 0 and 900, if provided.'),
        );
        return {
          MessageId: sent.messageId,
          MD5OfMessageBody: sent.md5OfBody,
          ...(sent.md5OfAttributes === undefined ? {} : { MD5OfMessageAttributes: sent.md5OfAttributes }),
        };
      }
      case 'SendMessageBatch':
        return this.sendMessageBatch(input);
      case 'ReceiveMessage':
        return this.receiveMessage(input, signal);
      case 'DeleteMessage': {
        const queue = this.queueFromUrl(input);
        this.deleteMessage(queue, requiredString(input, 'ReceiptHandle'));
        return {};
      }
      case 'DeleteMessageBatch':
        return this.deleteMessageBatch(input);
      case 'ChangeMessageVisibility': {
        const queue = this.queueFromUrl(input);
        const timeout = optionalInteger(
          input,
          'VisibilityTimeout',
          0,
          43_200,
          'Must be between 0 and 43200.',
        );
        this.changeVisibility(queue, requiredString(input, 'ReceiptHandle'), timeout ?? 0);
        return {};
      }
      default:
        throw new SqsError(
          'UnsupportedOperation',
          'AWS.SimpleQueueService.UnsupportedOperation',
          `The local SQS does not implement ${operation}.`,
        );
    }
  }

  private queueFromUrl(input: Record<string, unknown>): Queue {
    const url = requiredString(input, 'QueueUrl');
    let path: string;
    try {
      path = new URL(url).pathname;
    } catch {
      throw new SqsError(
        'InvalidAddress',
        'InvalidAddress',
        `The address ${url} is not valid for this endpoint.`,
        404,
      );
    }
    const [, account, name, ...rest] = path.split('/');
    if (account !== this.options.accountId || name === undefined || rest.length > 0) throw noSuchQueue();
    const queue = this.queues.get(name);
    if (queue === undefined) throw noSuchQueue();
    return queue;
  }

  private checkAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(attributes)) {
      const range = ATTRIBUTE_RANGES[key];
      if (range !== undefined) {
        const n = Number(value);
        if (!Number.isInteger(n) || n < range[0] || n > range[1]) {
          throw new SqsError(
            'InvalidAttributeValue',
            'InvalidAttributeValue',
            `Invalid value for the parameter ${key}. Reason: must be an integer from ${range[0]} to ${range[1]}.`,
          );
        }
        out[key] = String(n);
      } else if (PASSIVE_ATTRIBUTES.has(key) || key === 'FifoQueue') {
        out[key] = value;
      } else {
        throw new SqsError('InvalidAttributeName', 'InvalidAttributeName', `Unknown Attribute ${key}.`);
      }
    }
    return out;
  }

  private wireAttributes(value: unknown): Record<string, SqsAttributeValue> {
    const out: Record<string, SqsAttributeValue> = {};
    for (const [name, raw] of Object.entries(asRecord(value))) {
      const attr = asRecord(raw);
      out[name] = {
        DataType: typeof attr.DataType === 'string' ? attr.DataType : '',
        ...(typeof attr.StringValue === 'string' ? { StringValue: attr.StringValue } : {}),
        ...(typeof attr.BinaryValue === 'string' ? { BinaryValue: attr.BinaryValue } : {}),
      };
    }
    return out;
  }

  private checkMessage(
    queue: Queue,
    body: string,
    attributes: Readonly<Record<string, SqsAttributeValue>>,
  ): void {
    if (body.length === 0) {
      throw new SqsError(
        'MissingParameter',
        'MissingParameter',
        'The request must contain the parameter MessageBody.',
      );
    }
    if (INVALID_BODY_CHAR.test(body)) {
      throw new SqsError(
        'InvalidMessageContents',
        'InvalidMessageContents',
        'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF',
      );
    }
    const names = Object.keys(attributes);
    if (names.length > 10) {
      throw invalidParameter(
        `Number of message attributes [${names.length}] exceeds the allowed maximum [10].`,
      );
    }
    for (const name of names) {
      const value = attributes[name];
      if (value === undefined) continue;
      if (
        !ATTRIBUTE_NAME.test(name) ||
        name.startsWith('.') ||
        name.endsWith('.') ||
        name.includes('..') ||
        /^(aws|amazon)\./i.test(name)
      ) {
        throw invalidParameter(`Message attribute name '${name}' is invalid.`);
      }
      const base = value.DataType.split('.')[0];
      if (base === 'String' || base === 'Number') {
        if (value.StringValue === undefined || value.StringValue.length === 0) {
          throw invalidParameter(
            `Message attribute '${name}' must contain a non-empty message attribute value.`,
          );
        }
        if (base === 'Number' && !Number.isFinite(Number(value.StringValue))) {
          throw invalidParameter(`Could not cast message attribute '${name}' value to number.`);
        }
      } else if (base === 'Binary') {
        if (value.BinaryValue === undefined || value.BinaryValue.length === 0) {
          throw invalidParameter(
            `Message attribute '${name}' must contain a non-empty message attribute value.`,
          );
        }
      } else {
        throw invalidParameter(
          `The type of message (user) attribute '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`,
        );
      }
    }
    const max = Number(queue.attributes.MaximumMessageSize);
    const size = Buffer.byteLength(body) + attributesSize(attributes);
    if (size > max) {
      throw invalidParameter(
        `One or more parameters are invalid. Reason: Message must be shorter than ${max} bytes.`,
      );
    }
  }

  private listQueues(input: Record<string, unknown>): Record<string, unknown> {
    const prefix = optionalString(input, 'QueueNamePrefix') ?? '';
    const max = optionalInteger(input, 'MaxResults', 1, 1000, 'Must be between 1 and 1000, if provided.');
    const names = [...this.queues.keys()].filter((n) => n.startsWith(prefix)).sort();
    const start = Number(optionalString(input, 'NextToken') ?? '0') || 0;
    const page = max === undefined ? names.slice(0, 1000) : names.slice(start, start + max);
    const next = max !== undefined && start + max < names.length ? String(start + max) : undefined;
    return {
      ...(page.length > 0 ? { QueueUrls: page.map((n) => this.queueUrl(n)) } : {}),
      ...(next === undefined ? {} : { NextToken: next }),
    };
  }

  private getQueueAttributes(input: Record<string, unknown>): Record<string, unknown> {
    const queue = this.queueFromUrl(input);
    const requested = stringList(input, 'AttributeNames');
    const now = Date.now();
    this.expire(queue, now);
    const all: Record<string, string> = {
      ...queue.attributes,
      QueueArn: this.queueArn(queue.name),
      ApproximateNumberOfMessages: String(queue.messages.filter((m) => m.visibleAt <= now).length),
      ApproximateNumberOfMessagesNotVisible: String(
        queue.messages.filter((m) => m.visibleAt > now && m.receiveCount > 0).length,
      ),
      ApproximateNumberOfMessagesDelayed: String(
        queue.messages.filter((m) => m.visibleAt > now && m.receiveCount === 0).length,
      ),
      CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(queue.modifiedAt / 1000)),
    };
    if (requested.includes('All')) return { Attributes: all };
    const out: Record<string, string> = {};
    for (const name of requested) {
      if (
        !(name in DEFAULT_ATTRIBUTES) &&
        !READ_ONLY_ATTRIBUTES.includes(name) &&
        !PASSIVE_ATTRIBUTES.has(name)
      ) {
        if (name !== 'FifoQueue') {
          throw new SqsError('InvalidAttributeName', 'InvalidAttributeName', `Unknown Attribute ${name}.`);
        }
      }
      const value = all[name];
      if (value !== undefined) out[name] = value;
    }
    return Object.keys(out).length > 0 ? { Attributes: out } : {};
  }

  private checkBatch(entries: unknown[]): Record<string, unknown>[] {
    if (entries.length === 0) {
      throw new SqsError(
        'EmptyBatchRequest',
        'AWS.SimpleQueueService.EmptyBatchRequest',
        'There should be at least one entry in the request.',
      );
    }
    if (entries.length > 10) {
      throw new SqsError(
        'TooManyEntriesInBatchRequest',
        'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
        `Maximum number of entries per request are 10. You have sent ${entries.length}.`,
      );
    }
    const records = entries.map(asRecord);
    const ids = new Set<string>();
    for (const entry of records) {
      const id = typeof entry.Id === 'string' ? entry.Id : '';
      if (!BATCH_ID.test(id)) {
        throw new SqsError(
          'InvalidBatchEntryId',
          'AWS.SimpleQueueService.InvalidBatchEntryId',
          'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
        );
      }
      if (ids.has(id)) {
        throw new SqsError(
          'BatchEntryIdsNotDistinct',
          'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
          `Id ${id} repeated.`,
        );
      }
      ids.add(id);
    }
    return records;
  }

  private sendMessageBatch(input: Record<string, unknown>): Record<string, unknown> {
    const queue = this.queueFromUrl(input);
    const entries = this.checkBatch(Array.isArray(input.Entries) ? input.Entries : []);
    const max = Number(queue.attributes.MaximumMessageSize);
    let total = 0;
    for (const entry of entries) {
      total +=
        Buffer.byteLength(typeof entry.MessageBody === 'string' ? entry.MessageBody : '') +
        attributesSize(this.wireAttributes(entry.MessageAttributes));
    }
    if (total > max) {
      throw new SqsError(
        'BatchRequestTooLong',
        'AWS.SimpleQueueService.BatchRequestTooLong',
        `Batch requests cannot be longer than ${max} bytes. You have sent ${total} bytes.`,
      );
    }
    const successful: Record<string, unknown>[] = [];
    const failed: Record<string, unknown>[] = [];
    for (const entry of entries) {
      const id = entry.Id as string;
      try {
        const sent = this.sendMessage(
          queue.name,
          requiredString(entry, 'MessageBody'),
          this.wireAttributes(entry.MessageAttributes),
          optionalInteger(entry, 'DelaySeconds', 0, 900, 'Must be between 0 and 900, if provided.'),
        );
        successful.push({
          Id: id,
          MessageId: sent.messageId,
          MD5OfMessageBody: sent.md5OfBody,
          ...(sent.md5OfAttributes === undefined ? {} : { MD5OfMessageAttributes: sent.md5OfAttributes }),
        });
      } catch (error) {
        if (!(error instanceof SqsError)) throw error;
        failed.push({ Id: id, SenderFault: true, Code: error.queryCode, Message: error.message });
      }
    }
    return { Successful: successful, Failed: failed };
  }

  private async receiveMessage(
    input: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const queue = this.queueFromUrl(input);
    const max =
      optionalInteger(input, 'MaxNumberOfMessages', 1, 10, 'Must be between 1 and 10, if provided.') ?? 1;
    const visibility =
      optionalInteger(input, 'VisibilityTimeout', 0, 43_200, 'Must be between 0 and 43200, if provided.') ??
      Number(queue.attributes.VisibilityTimeout);
    const wait =
      optionalInteger(input, 'WaitTimeSeconds', 0, 20, 'Must be >= 0 and <= 20, if provided.') ??
      Number(queue.attributes.ReceiveMessageWaitTimeSeconds);
    const attributeNames = stringList(input, 'MessageAttributeNames');
    const systemNames = [
      ...stringList(input, 'MessageSystemAttributeNames'),
      ...stringList(input, 'AttributeNames'),
    ];

    const deadline = Date.now() + wait * 1000;
    let taken = this.take(queue, max, visibility);
    // Long poll: wait for a send, a visibility change or the deadline; every wait is bounded by the
    // deadline (at most 20 s) and ends early when the client leaves or the endpoint closes.
    while (taken.length === 0 && Date.now() < deadline && !signal.aborted && !this.closed) {
      await this.waitForChange(queue, Math.min(deadline - Date.now(), 1000), signal);
      if (this.queues.get(queue.name) !== queue) break;
      taken = this.take(queue, max, visibility);
    }
    if (taken.length === 0) return {};
    return { Messages: taken.map((m) => this.renderMessage(m, attributeNames, systemNames)) };
  }

  private renderMessage(
    message: StoredMessage,
    attributeNames: readonly string[],
    systemNames: readonly string[],
  ): Record<string, unknown> {
    const wantsAll = attributeNames.includes('All') || attributeNames.includes('.*');
    const selected: Record<string, SqsAttributeValue> = {};
    for (const [name, value] of Object.entries(message.attributes)) {
      const wanted =
        wantsAll ||
        attributeNames.some((pattern) =>
          pattern.endsWith('.*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name,
        );
      if (wanted) selected[name] = value;
    }
    const system: Record<string, string> = {};
    const allSystem = systemNames.includes('All');
    const values: Record<string, string | undefined> = {
      SenderId: this.options.accountId,
      SentTimestamp: String(message.sentAt),
      ApproximateReceiveCount: String(message.receiveCount),
      ApproximateFirstReceiveTimestamp:
        message.firstReceiveAt === undefined ? undefined : String(message.firstReceiveAt),
    };
    for (const name of SYSTEM_ATTRIBUTES) {
      const value = values[name];
      if ((allSystem || systemNames.includes(name)) && value !== undefined) system[name] = value;
    }
    const hasSelected = Object.keys(selected).length > 0;
    return {
      MessageId: message.id,
      ReceiptHandle: message.receiptHandle,
      MD5OfBody: message.md5Body,
      Body: message.body,
      ...(Object.keys(system).length > 0 ? { Attributes: system } : {}),
      ...(hasSelected
        ? { MessageAttributes: selected, MD5OfMessageAttributes: md5OfMessageAttributes(selected) }
        : {}),
    };
  }

  private expire(queue: Queue, now: number): void {
    const retentionMs = Number(queue.attributes.MessageRetentionPeriod) * 1000;
    if (queue.messages.some((m) => now - m.sentAt > retentionMs)) {
      queue.messages = queue.messages.filter((m) => now - m.sentAt <= retentionMs);
    }
  }

  private take(queue: Queue, max: number, visibilitySeconds: number): StoredMessage[] {
    const now = Date.now();
    this.expire(queue, now);
    const out: StoredMessage[] = [];
    for (const message of queue.messages) {
      if (out.length >= max) break;
      if (message.visibleAt > now) continue;
      message.receiveCount += 1;
      message.firstReceiveAt ??= now;
      message.receiptHandle = encodeReceiptHandle(queue.name, message.id);
      message.visibleAt = now + visibilitySeconds * 1000;
      out.push(message);
    }
    return out;
  }

  private waitForChange(queue: Queue, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        queue.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(ms, 0));
      queue.waiters.add(done);
      signal.addEventListener('abort', done);
    });
  }

  private wake(queue: Queue): void {
    for (const waiter of [...queue.waiters]) waiter();
  }

  private findByHandle(queue: Queue, handle: string): StoredMessage | undefined {
    const decoded = decodeReceiptHandle(handle);
    if (decoded === undefined || decoded.queue !== queue.name) {
      throw new SqsError(
        'ReceiptHandleIsInvalid',
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${handle}" is not a valid receipt handle.`,
        404,
      );
    }
    return queue.messages.find((m) => m.id === decoded.messageId);
  }

  private deleteMessage(queue: Queue, handle: string): void {
    const message = this.findByHandle(queue, handle);
    // As on AWS, an outdated handle (the message was received again since) succeeds without deleting.
    if (message !== undefined && message.receiptHandle === handle) {
      queue.messages = queue.messages.filter((m) => m !== message);
    }
  }

  private changeVisibility(queue: Queue, handle: string, seconds: number): void {
    const message = this.findByHandle(queue, handle);
    const now = Date.now();
    if (message === undefined || message.receiptHandle !== handle || message.visibleAt <= now) {
      throw new SqsError(
        'MessageNotInflight',
        'AWS.SimpleQueueService.MessageNotInflight',
        'The message referred to is not in flight.',
      );
    }
    message.visibleAt = now + seconds * 1000;
    this.wake(queue);
  }

  private deleteMessageBatch(input: Record<string, unknown>): Record<string, unknown> {
    const queue = this.queueFromUrl(input);
    const entries = this.checkBatch(Array.isArray(input.Entries) ? input.Entries : []);
    const successful: Record<string, unknown>[] = [];
    const failed: Record<string, unknown>[] = [];
    for (const entry of entries) {
      const id = entry.Id as string;
      try {
        this.deleteMessage(queue, requiredString(entry, 'ReceiptHandle'));
        successful.push({ Id: id });
      } catch (error) {
        if (!(error instanceof SqsError)) throw error;
        failed.push({ Id: id, SenderFault: true, Code: error.queryCode, Message: error.message });
      }
    }
    return { Successful: successful, Failed: failed };
  }
}
