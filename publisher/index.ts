import { randomUUID } from 'node:crypto';
import {
  type MessageAttributeValue,
  PublishBatchCommand,
  type PublishBatchRequestEntry,
  SNSClient,
} from '@aws-sdk/client-sns';
import {
  type ControlEnvelope,
  checkControlEnvelope,
  checkEnvelope,
  type Envelope,
  envelopeSizeProblem,
  MAX_USERS_PER_ENVELOPE,
} from '../functions/shared/envelope.ts';
import { InvalidEnvelopeError, PushlineError } from '../functions/shared/errors.ts';
import type { PushPlatform } from '../functions/shared/mobile-push.ts';
import type { PreferencesChange } from '../functions/shared/preferences.ts';

/** SNS's limit for one message, and for a whole PublishBatch request (body plus attributes). */
export const SNS_MAX_BYTES = 256 * 1024;

/** Entries SNS accepts in one PublishBatch request. */
export const SNS_MAX_BATCH_ENTRIES = 10;

/**
 * JSON text to send as a message's `data` exactly as written, e.g. with an 18-digit integer that a
 * JavaScript number would round: `data: new JsonText('{"orderId":654366374251302912}')`.
 */
export class JsonText {
  constructor(readonly text: string) {
    try {
      JSON.parse(text);
    } catch {
      throw new InvalidMessageError('JsonText must hold valid JSON');
    }
  }
}

/** A message to publish: the envelope v1 fields without `v`; `data` may be a {@link JsonText}. */
export type PushMessage = Omit<Envelope, 'v'>;

/** What publishing one message did. */
export interface PublishResult {
  /** The message id (the given `id`, or one generated so that retries stay idempotent). */
  readonly id: string;
  /** One SNS message id per envelope sent (long recipient lists are split). */
  readonly snsMessageIds: readonly string[];
}

/** The message breaks a limit or the envelope rules; nothing was sent. */
export class InvalidMessageError extends PushlineError {
  constructor(message: string) {
    super('INVALID_MESSAGE', message);
  }
}

/** SNS kept refusing some envelopes after every retry; `failed` says which and why. */
export class PublishFailedError extends PushlineError {
  constructor(
    readonly failed: readonly { id: string; code: string; message: string }[],
    readonly succeeded: readonly PublishResult[],
  ) {
    super(
      'PUBLISH_FAILED',
      `SNS refused ${failed.length} envelope(s): ${failed[0]?.code}: ${failed[0]?.message}`,
    );
  }
}

/** Options of {@link Publisher}. */
export interface PublisherOptions {
  /** ARN of the Pushline topic (the `TopicArn` stack output). */
  readonly topicArn: string;
  /** An SNS client; by default one from the standard AWS configuration (region, credentials, endpoint). */
  readonly client?: SNSClient;
  /** Attempts for entries SNS refuses in a batch (throttling, internal errors). @default 3 */
  readonly attempts?: number;
}

interface PendingEntry {
  readonly messageIndex: number;
  readonly entry: PublishBatchRequestEntry;
  readonly bytes: number;
}

/**
 * Publishes messages for users to the Pushline topic: validates them, checks sizes against API
 * Gateway's 128 KB and SNS's 256 KB, splits long recipient lists, sends with PublishBatch, and
 * retries refused entries with the same message id (delivery drops the repeats).
 */
export class Publisher {
  private readonly client: SNSClient;
  private readonly attempts: number;

  constructor(private readonly options: PublisherOptions) {
    if (!options.topicArn.startsWith('arn:'))
      throw new InvalidMessageError('topicArn must be an SNS topic ARN');
    this.client = options.client ?? new SNSClient({});
    this.attempts = options.attempts ?? 3;
  }

  /** Publishes one message; resolves with its id once SNS accepted every envelope. */
  async publish(message: PushMessage): Promise<PublishResult> {
    const [result] = await this.publishAll([message]);
    return result as PublishResult;
  }

  /** Publishes many messages in as few PublishBatch calls as the limits allow, in order. */
  async publishAll(messages: readonly PushMessage[]): Promise<PublishResult[]> {
    const ids = messages.map((message) => message.id ?? randomUUID());
    const pending = messages.flatMap((message, index) =>
      this.toEntries(message, ids[index] as string, index),
    );
    return this.send(pending, ids);
  }

  /**
   * Ends every open connection of these users (logout, ban): each gets a `disconnect` frame with
   * the reason, then API Gateway closes it; the SDK does not reconnect after one. Needs only the
   * publish grant. A connection opened after the order arrives is not affected (refuse those
   * users' tokens for that).
   */
  async disconnect(
    users: readonly string[],
    options: { readonly reason?: string } = {},
  ): Promise<PublishResult> {
    return this.control(users, 'disconnect', options.reason !== undefined ? { reason: options.reason } : {});
  }

  /**
   * Changes what these users mute (`{ mute: { types: ['promo'] }, unmute: { sources: ['shop'] } }`):
   * applied at once, and every device of each user is sent its new preferences. Needs only the
   * publish grant. A mandatory type cannot be muted: the envelope is then rejected with the reason
   * (in the rejected queue), since only the stack knows its mandatory types.
   */
  async setPreferences(users: readonly string[], change: PreferencesChange): Promise<PublishResult> {
    return this.control(users, 'prefs', {
      ...(change.mute !== undefined ? { mute: change.mute } : {}),
      ...(change.unmute !== undefined ? { unmute: change.unmute } : {}),
    });
  }

  /**
   * Registers a device token of a user for mobile push, as the device's own `register` frame does
   * (for apps that hand their push token to their backend rather than to the socket). Needs only
   * the publish grant; applied asynchronously by the stack, so no endpoint ARN comes back. A
   * platform the deployment has no application for is rejected with the reason (in the rejected
   * queue); a token SNS refuses is logged by the stack (`devicesRefused` metric).
   */
  async registerDevice(user: string, platform: PushPlatform, token: string): Promise<PublishResult> {
    return this.control([user], 'register-device', { platform, token });
  }

  /** Stops mobile push to a device token of a user (its endpoint and row are deleted). */
  async unregisterDevice(user: string, token: string): Promise<PublishResult> {
    return this.control([user], 'unregister-device', { token });
  }

  /** Sends a control order for users, in envelopes of at most 100 users sharing one id. */
  private async control(
    users: readonly string[],
    control: ControlEnvelope['control'],
    fields: Record<string, unknown>,
  ): Promise<PublishResult> {
    const id = randomUUID();
    const unique = [...new Set(users)];
    if (unique.length === 0) throw new InvalidMessageError(`${control} needs at least one user`);
    const pending = chunk(unique, MAX_USERS_PER_ENVELOPE).map((part, chunkIndex): PendingEntry => {
      let envelope: ControlEnvelope;
      try {
        envelope = checkControlEnvelope({ v: 1, id, to: { users: part }, control, ...fields });
      } catch (error) {
        if (error instanceof InvalidEnvelopeError) throw new InvalidMessageError(error.reason);
        throw error;
      }
      const body = JSON.stringify(envelope);
      const attributes = { control: { DataType: 'String', StringValue: control } };
      return {
        messageIndex: 0,
        bytes: Buffer.byteLength(body) + attributeBytes(attributes),
        entry: { Id: `c${chunkIndex}`, Message: body, MessageAttributes: attributes },
      };
    });
    const [result] = await this.send(pending, [id]);
    return result as PublishResult;
  }

  /** Sends entries in batches, retrying what SNS refused for a reason of its own. */
  private async send(pending: readonly PendingEntry[], ids: readonly string[]): Promise<PublishResult[]> {
    const snsIds: string[][] = ids.map(() => []);
    const failed: { id: string; code: string; message: string }[] = [];

    let queue = pending;
    for (let attempt = 1; queue.length > 0 && attempt <= this.attempts; attempt++) {
      if (attempt > 1)
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt * Math.random()));
      const retry: PendingEntry[] = [];
      for (const batch of batches(queue)) {
        const answer = await this.client.send(
          new PublishBatchCommand({
            TopicArn: this.options.topicArn,
            PublishBatchRequestEntries: batch.map((p) => p.entry),
          }),
        );
        const byEntryId = new Map(batch.map((p) => [p.entry.Id, p]));
        for (const ok of answer.Successful ?? []) {
          const entry = byEntryId.get(ok.Id);
          if (entry && ok.MessageId) snsIds[entry.messageIndex]?.push(ok.MessageId);
        }
        for (const refused of answer.Failed ?? []) {
          const entry = byEntryId.get(refused.Id);
          if (!entry) continue;
          if (refused.SenderFault || attempt === this.attempts) {
            failed.push({
              id: ids[entry.messageIndex] as string,
              code: refused.Code ?? 'Unknown',
              message: refused.Message ?? '',
            });
          } else {
            retry.push(entry);
          }
        }
      }
      queue = retry;
    }
    const results = ids.map((id, index) => ({ id, snsMessageIds: snsIds[index] ?? [] }));
    if (failed.length > 0) throw new PublishFailedError(failed, results);
    return results;
  }

  private toEntries(message: PushMessage, id: string, messageIndex: number): PendingEntry[] {
    // Long recipient lists are split first, so that each envelope is checked as it will be sent.
    // Every chunk keeps the same message id: chunks address different users, and each user's copy
    // is deduplicated by that id.
    const users =
      'users' in message.to && Array.isArray(message.to.users) ? [...new Set(message.to.users)] : [];
    const recipients: PushMessage['to'][] =
      users.length > 0 ? chunk(users, MAX_USERS_PER_ENVELOPE).map((part) => ({ users: part })) : [message.to];
    const raw = message.data instanceof JsonText ? message.data.text : undefined;
    const data = raw === undefined ? message.data : JSON.parse(raw);
    let envelopes: Envelope[];
    try {
      envelopes = recipients.map((to) => checkEnvelope({ v: 1, ...message, data, id, to }));
    } catch (error) {
      if (error instanceof InvalidEnvelopeError) {
        throw new InvalidMessageError(`message ${messageIndex}: ${error.reason}`);
      }
      throw error;
    }
    const envelope = envelopes[0] as Envelope;
    // The same size rule as the deliver function's, on the data text it will receive.
    const tooLarge = envelopeSizeProblem(envelope, id, raw ?? JSON.stringify(envelope.data));
    if (tooLarge !== undefined) throw new InvalidMessageError(`message ${messageIndex}: ${tooLarge}`);
    const attributes: Record<string, MessageAttributeValue> = {
      type: { DataType: 'String', StringValue: envelope.type },
    };
    if (envelope.source !== undefined)
      attributes.source = { DataType: 'String', StringValue: envelope.source };

    return envelopes.map((chunkEnvelope, chunkIndex) => {
      const body = raw === undefined ? JSON.stringify(chunkEnvelope) : withDataText(chunkEnvelope, raw);
      const bytes = Buffer.byteLength(body, 'utf8') + attributeBytes(attributes);
      if (bytes > SNS_MAX_BYTES) {
        throw new InvalidMessageError(
          `message ${messageIndex} is ${bytes} bytes; SNS accepts at most ${SNS_MAX_BYTES}`,
        );
      }
      return {
        messageIndex,
        bytes,
        entry: { Id: `m${messageIndex}c${chunkIndex}`, Message: body, MessageAttributes: attributes },
      };
    });
  }
}

/** The envelope's JSON with `data` as the given text, byte for byte. */
function withDataText(envelope: Envelope, dataJson: string): string {
  const { data: _data, ...rest } = envelope;
  return `${JSON.stringify(rest).slice(0, -1)},"data":${dataJson}}`;
}

/** Groups entries into PublishBatch requests of at most 10 entries and 256 KB. */
function* batches(entries: readonly PendingEntry[]): Generator<PendingEntry[]> {
  let batch: PendingEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (batch.length === SNS_MAX_BATCH_ENTRIES || (batch.length > 0 && bytes + entry.bytes > SNS_MAX_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += entry.bytes;
  }
  if (batch.length > 0) yield batch;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

function attributeBytes(attributes: Record<string, MessageAttributeValue>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(attributes)) {
    bytes +=
      Buffer.byteLength(name) +
      Buffer.byteLength(value.DataType ?? '') +
      Buffer.byteLength(value.StringValue ?? '');
  }
  return bytes;
}

export {
  type AudiencePresence,
  InvalidPresenceQueryError,
  Presence,
  type PresenceOptions,
  type UserPreferences,
  type UserPresence,
} from './presence.ts';
