import type { Context, SNSEvent, SNSEventRecord } from 'aws-lambda';
import { createConnectionDirectory } from './adapters/connection-store.ts';
import { createEventSink } from './adapters/event-sink.ts';
import { createInboxStore } from './adapters/inbox-store.ts';
import { createConnectionPoster } from './adapters/management-api.ts';
import { createPartQueue } from './adapters/part-queue.ts';
import { createPreferencesStore } from './adapters/preferences-store.ts';
import { keepRejected } from './adapters/rejected-queue.ts';
import { type AudienceDelivery, publishToAudience } from './domain/audience.ts';
import {
  DeliveryIncompleteError,
  type DeliveryPorts,
  deliver,
  type UserDelivery,
} from './domain/delivery.ts';
import {
  InvalidPushTokenError,
  pushToDevices,
  registerDevice,
  registrationProblem,
  unregisterDevice,
} from './domain/mobile-push.ts';
import { changePreferences } from './domain/preferences.ts';
import { listEnv, oneOfEnv, optionalEnv, positiveIntEnv, requireEnv } from './lib/config.ts';
import { createMobilePushPorts, mobilePushSettingsFromEnv } from './lib/mobile-push-config.ts';
import { count, eventSinkReports, logger, publishCounts } from './lib/observability.ts';
import {
  type ControlEnvelope,
  DEFAULT_RETENTION_SECONDS,
  envelopeSizeProblem,
  parsePublished,
} from './shared/envelope.ts';
import { ENV } from './shared/environment.ts';
import { InvalidEnvelopeError } from './shared/errors.ts';
import { DEFAULT_MANAGEMENT_CLIENT, MANAGEMENT_CLIENTS } from './shared/management-client.ts';
import { preferencesChangeProblem } from './shared/preferences.ts';
import type { DisconnectFrame } from './shared/protocol.ts';
import { KEY } from './shared/table-schema.ts';

const config = Object.freeze({
  tableName: requireEnv(ENV.tableName),
  callbackUrl: requireEnv(ENV.callbackUrl),
  managementClient: oneOfEnv(ENV.managementClient, MANAGEMENT_CLIENTS, DEFAULT_MANAGEMENT_CLIENT),
  rejectedQueueUrl: requireEnv(ENV.rejectedQueueUrl),
  concurrency: positiveIntEnv(ENV.deliveryConcurrency, 32),
  fanoutTopicArn: requireEnv(ENV.fanoutTopicArn),
  mandatoryTypes: listEnv(ENV.mandatoryTypes),
  eventsTopicArn: optionalEnv(ENV.eventsTopicArn),
  mobilePush: mobilePushSettingsFromEnv(),
});
const poster = createConnectionPoster(config.callbackUrl, {
  maxSockets: config.concurrency,
  client: config.managementClient,
});
const ports: DeliveryPorts = {
  inbox: createInboxStore(config.tableName),
  connections: createConnectionDirectory(config.tableName),
  poster,
  warn: (message, details) => logger.warn(message, details),
};
const preferencePorts = { ...ports, preferences: createPreferencesStore(config.tableName) };
const events = createEventSink(config.eventsTopicArn, eventSinkReports);
/** Mobile push: device rows and SNS platform endpoints (see domain/mobile-push.ts). */
const pushPorts = createMobilePushPorts(config.tableName, ports.warn);
/** Topic and broadcast messages: stored once in their topic's log, handed to the fan-out in parts. */
const audiencePorts = {
  log: createInboxStore(config.tableName, { partition: KEY.topicLog, countsUnread: false }),
  queue: createPartQueue(config.fanoutTopicArn),
};

/** DynamoDB calls in flight per invocation (storing, querying, pruning). */
const TABLE_CONCURRENCY = 16;

/**
 * Time kept back from the function's timeout: no new user is started after it, so that posts in
 * flight (each bounded by the poster's timeouts and retries) end, and unstarted users are handed
 * back to Lambda's retry, before the function is cut.
 */
const DEADLINE_MARGIN_MS = 25_000;

/**
 * SNS-triggered delivery. Per record: validate the envelope (invalid ones are kept in the rejected
 * queue, never retried), then run the delivery sequence (domain/delivery.ts). Only users that could
 * not be delivered to make it throw, so that Lambda retries the event; the per-user rows make the
 * retry do nothing for everyone already delivered to.
 */
export async function handler(event: SNSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) {
  try {
    for (const record of event.Records) await deliverRecord(record, context);
  } finally {
    publishCounts();
  }
}

async function deliverRecord(
  record: SNSEventRecord,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<void> {
  const sns = record.Sns;
  let message: Validated;
  try {
    message = validate(sns);
  } catch (error) {
    if (!(error instanceof InvalidEnvelopeError)) throw error;
    await keepRejected(config.rejectedQueueUrl, {
      body: sns.Message,
      code: error.rejection,
      reason: error.reason,
      snsMessageId: sns.MessageId,
      topicArn: sns.TopicArn,
    });
    logger.warn('Envelope rejected', {
      snsMessageId: sns.MessageId,
      code: error.rejection,
      reason: error.reason,
    });
    count('rejected', 1);
    const messageId = envelopeIdOf(sns.Message);
    await events.emit([
      {
        event: 'rejected',
        snsMessageId: sns.MessageId,
        ...(messageId !== undefined ? { messageId } : {}),
        code: error.rejection,
        reason: error.reason,
        ts: Date.now(),
      },
    ]);
    return;
  }
  if (message.kind === 'control') {
    const { control } = message;
    if (control.control === 'register-device' || control.control === 'unregister-device') {
      return changeDevice(control);
    }
    return control.control === 'disconnect' ? disconnectUsers(control) : setPreferences(control);
  }
  if (message.kind === 'audience') {
    const outcome = await publishToAudience(audiencePorts, message.delivery, crypto.randomUUID());
    count(outcome === 'duplicate' ? 'duplicates' : 'fanoutStarted', 1);
    logger.info('Handed to the fan-out', {
      messageId: message.delivery.id,
      outcome,
      ...message.delivery.audience,
    });
    return;
  }
  await deliverToUsers(message.delivery, context);
}

async function deliverToUsers(
  message: UserDelivery,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<void> {
  const report = await deliver(ports, message, {
    // Unique per attempt: Lambda retries an event with the same request id, and a retry must not
    // mistake the rows of users the first attempt delivered to for its own.
    owner: crypto.randomUUID(),
    postConcurrency: config.concurrency,
    tableConcurrency: TABLE_CONCURRENCY,
    deadlineMs: context === undefined ? undefined : deadlineOf(context.getRemainingTimeInMillis()),
    mandatoryTypes: config.mandatoryTypes,
  });
  count('delivered', report.delivered);
  count('muted', report.muted);
  count('gone', report.gone);
  count('duplicates', report.duplicates);
  count('retried', report.retryUsers.length);
  logger.info('Delivered', { messageId: message.id, addressed: message.users.length, ...report });
  const ts = Date.now();
  await events.emit([
    ...(report.reached.length > 0
      ? [
          {
            event: 'delivered' as const,
            messageId: message.id,
            type: message.type,
            users: report.reached.map(({ userId, connections }) => ({ user: userId, connections })),
            ts,
          },
        ]
      : []),
    ...(report.retryUsers.length > 0
      ? [
          {
            event: 'failed' as const,
            messageId: message.id,
            users: report.retryUsers,
            reason:
              'not delivered in this attempt (storing, looking up or posting failed, or time ran out); Lambda retries',
            ts,
          },
        ]
      : []),
  ]);
  await offerMobilePush(message, report.unreached, context);
  if (report.retryUsers.length > 0) throw new DeliveryIncompleteError(message.id, report.retryUsers);
}

/**
 * Mobile push (domain/mobile-push.ts) for the users no connection took the message, when its type
 * is opted in: nothing is read for users a connection took. Never throws (failures are counted).
 */
async function offerMobilePush(
  message: UserDelivery,
  unreached: readonly string[],
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<void> {
  if (unreached.length === 0 || !config.mobilePush.types.includes(message.type)) return;
  // The sender's own copy is read already: it never rings the sender's phone.
  const users = unreached.filter((userId) => userId !== message.from);
  const push = await pushToDevices(pushPorts, message, users, {
    concurrency: TABLE_CONCURRENCY,
    deadlineMs: context === undefined ? undefined : deadlineOf(context.getRemainingTimeInMillis()),
    nowMs: Date.now(),
  });
  count('mobilePushSent', push.sent);
  count('mobilePushRemoved', push.removed);
  count('mobilePushFailed', push.failed + push.skipped);
  logger.info('Mobile push', { messageId: message.id, ...push });
}

/** A service's registration (or removal) of a user's push token; a refused token is logged, not retried. */
async function changeDevice(control: DeviceOrder): Promise<void> {
  const userId = control.to.users[0] as string;
  try {
    if (control.control === 'register-device') {
      await registerDevice(pushPorts, config.mobilePush, userId, control.platform, control.token, Date.now());
    } else {
      await unregisterDevice(pushPorts, userId, control.token, Date.now());
    }
    count('devicesChanged', 1);
  } catch (error) {
    if (!(error instanceof InvalidPushTokenError)) throw error;
    logger.warn('Device token refused by SNS', { userId, control: control.control, error });
    count('devicesRefused', 1);
  }
}

/**
 * A service's change of users' preferences: applied to each user, and every device of the user is
 * sent the new preferences. Repeating it is harmless (the change is the same).
 */
async function setPreferences(control: PrefsOrder): Promise<void> {
  const change = {
    ...(control.mute ? { mute: control.mute } : {}),
    ...(control.unmute ? { unmute: control.unmute } : {}),
  };
  for (const userId of new Set(control.to.users)) {
    await changePreferences(preferencePorts, userId, change, config.mandatoryTypes, Date.now());
  }
  count('preferencesChanged', control.to.users.length);
  logger.info('Preferences changed on request', { users: control.to.users.length });
}

/** An envelope's `id` when the body is JSON holding a string one (for a rejection's event). */
function envelopeIdOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' ? id.slice(0, 128) : undefined;
  } catch {
    return undefined;
  }
}

/** When to stop starting users: the margin before the timeout, or half the time left if that is less. */
function deadlineOf(remainingMs: number): number {
  return Date.now() + Math.max(remainingMs - DEADLINE_MARGIN_MS, remainingMs / 2);
}

/**
 * Closes every connection of the users (a service's logout or ban): each gets a `disconnect` frame,
 * then the gateway closes it, and its `$disconnect` removes its rows. Repeating it is harmless.
 */
async function disconnectUsers(control: DisconnectOrder): Promise<void> {
  const frame: DisconnectFrame = {
    kind: 'disconnect',
    ...(control.reason !== undefined ? { reason: control.reason } : {}),
  };
  let closed = 0;
  for (const userId of new Set(control.to.users)) {
    for (const { connectionId } of await ports.connections.list(userId)) {
      await poster.post(connectionId, JSON.stringify(frame)).catch(() => 'failed');
      await poster.disconnect(connectionId);
      closed++;
    }
  }
  count('disconnected', closed);
  logger.info('Disconnected on request', { users: control.to.users.length, closed });
}

/** The two control orders. */
type DisconnectOrder = Extract<ControlEnvelope, { control: 'disconnect' }>;
type PrefsOrder = Extract<ControlEnvelope, { control: 'prefs' }>;
/** A service's device registration or removal (mobile push). */
type DeviceOrder = Extract<ControlEnvelope, { control: 'register-device' | 'unregister-device' }>;

/** A valid SNS message: a delivery to users, a delivery to a topic or to everyone, or a control order. */
type Validated =
  | { readonly kind: 'users'; readonly delivery: UserDelivery }
  | { readonly kind: 'audience'; readonly delivery: AudienceDelivery }
  | { readonly kind: 'control'; readonly control: ControlEnvelope };

/** Validates an SNS message; throws InvalidEnvelopeError with a reason. */
function validate(sns: SNSEventRecord['Sns']): Validated {
  const published = parsePublished(sns.Message);
  if (published.kind === 'control') {
    const { control } = published;
    const problem =
      control.control === 'prefs'
        ? preferencesChangeProblem(control, config.mandatoryTypes)
        : control.control === 'register-device'
          ? registrationProblem(config.mobilePush, control.platform)
          : undefined;
    if (problem !== undefined) throw new InvalidEnvelopeError(problem, 'NOT_ALLOWED');
    return published;
  }
  const { envelope, dataJson } = published;
  // SNS repeats MessageId on a duplicate delivery, so it is a safe idempotency key when the sender gave none.
  const id = envelope.id ?? sns.MessageId;
  const { to } = envelope;
  const tooLarge = envelopeSizeProblem(envelope, id, dataJson);
  if (tooLarge !== undefined) throw new InvalidEnvelopeError(tooLarge, 'TOO_LARGE');
  const fields = {
    id,
    type: envelope.type,
    source: envelope.source,
    from: envelope.from,
    dataJson,
    ts: Date.parse(sns.Timestamp) || Date.now(),
    persist: envelope.persist ?? true,
    retentionSeconds: envelope.ttl ?? DEFAULT_RETENTION_SECONDS,
  };
  if ('users' in to) return { kind: 'users', delivery: { ...fields, users: to.users } };
  return {
    kind: 'audience',
    delivery: { ...fields, audience: 'topic' in to ? { topic: to.topic } : { all: true } },
  };
}
