import { createAudienceStore } from './adapters/audience-store.ts';
import { createConnectionDirectory } from './adapters/connection-store.ts';
import { createEventSink } from './adapters/event-sink.ts';
import { createInboxStore } from './adapters/inbox-store.ts';
import { createConnectionPoster } from './adapters/management-api.ts';
import { createOutbox } from './adapters/outbox.ts';
import { createPartQueue } from './adapters/part-queue.ts';
import { createPreferencesStore } from './adapters/preferences-store.ts';
import { createSendLimiter } from './adapters/send-limiter.ts';
import {
  subscribe,
  TooManyTopicsError,
  TopicForbiddenError,
  type TopicPorts,
  unsubscribe,
} from './domain/audience.ts';
import { parseClientFrame, type ServedFrame } from './domain/client-frame.ts';
import { SendRefusedError, type SendRules, send } from './domain/conversation.ts';
import { postToUser } from './domain/delivery.ts';
import { acknowledge, acknowledgeAll, backlogFrames, historyPage } from './domain/inbox.ts';
import {
  InvalidPushTokenError,
  mobilePushEnabled,
  PushPlatformNotConfiguredError,
  registerDevice,
  unregisterDevice,
} from './domain/mobile-push.ts';
import { changePreferences, prefsFrame, TooManyMutedError } from './domain/preferences.ts';
import { booleanEnv, listEnv, oneOfEnv, optionalEnv, positiveIntEnv, requireEnv } from './lib/config.ts';
import { createMobilePushPorts, mobilePushSettingsFromEnv } from './lib/mobile-push-config.ts';
import { eventSinkReports, logger } from './lib/observability.ts';
import { topicGrantsOf, userIdOf, type WebSocketEvent, type WebSocketResult } from './lib/websocket-event.ts';
import { ENV } from './shared/environment.ts';
import { InvalidFrameError } from './shared/errors.ts';
import { memberText } from './shared/json-text.ts';
import { DEFAULT_SEND_RATE } from './shared/limits.ts';
import { DEFAULT_MANAGEMENT_CLIENT, MANAGEMENT_CLIENTS } from './shared/management-client.ts';
import { listFrameText } from './shared/message-frame.ts';
import { preferencesChangeProblem } from './shared/preferences.ts';
import type { ErrorFrame, ReadFrame, ServerFrame, SubscribedFrame, UnreadFrame } from './shared/protocol.ts';
import { BROADCAST_LOG, DEFAULT_CONNECTION_TTL_SECONDS, KEY } from './shared/table-schema.ts';

const config = Object.freeze({
  tableName: requireEnv(ENV.tableName),
  callbackUrl: requireEnv(ENV.callbackUrl),
  managementClient: oneOfEnv(ENV.managementClient, MANAGEMENT_CLIENTS, DEFAULT_MANAGEMENT_CLIENT),
  fanoutTopicArn: requireEnv(ENV.fanoutTopicArn),
  topicArn: requireEnv(ENV.topicArn),
  inboundTopicArn: optionalEnv(ENV.inboundTopicArn),
  services: listEnv(ENV.services),
  mandatoryTypes: listEnv(ENV.mandatoryTypes),
  eventsTopicArn: optionalEnv(ENV.eventsTopicArn),
  sendToUsers: booleanEnv(ENV.sendToUsers, true),
  sendRate: {
    perSecond: positiveIntEnv(ENV.sendRatePerSecond, DEFAULT_SEND_RATE.perSecond),
    burst: positiveIntEnv(ENV.sendBurst, DEFAULT_SEND_RATE.burst),
  },
  connectionTtlSeconds: positiveIntEnv(ENV.connectionTtlSeconds, DEFAULT_CONNECTION_TTL_SECONDS),
  openTopics: listEnv(ENV.openTopics),
  presenceTopics: listEnv(ENV.presenceTopics),
  mobilePush: mobilePushSettingsFromEnv(),
});
const poster = createConnectionPoster(config.callbackUrl, {
  maxSockets: 8,
  client: config.managementClient,
});
const inbox = createInboxStore(config.tableName);
/** Stored topic and broadcast messages, one log per topic. */
const topicLogs = createInboxStore(config.tableName, { partition: KEY.topicLog, countsUnread: false });
const connections = createConnectionDirectory(config.tableName);
const topicPorts: TopicPorts = {
  audience: createAudienceStore(config.tableName),
  queue: createPartQueue(config.fanoutTopicArn),
  rules: { open: config.openTopics, presence: config.presenceTopics },
};
const sendPorts = {
  limiter: createSendLimiter(config.tableName, config.sendRate),
  outbox: createOutbox(config.topicArn),
  inbound: config.inboundTopicArn === undefined ? undefined : createOutbox(config.inboundTopicArn),
};
const sendRules: SendRules = {
  toUsers: config.sendToUsers,
  openTopics: config.openTopics,
  services: config.services,
};
const warn = (message: string, details: Record<string, unknown>) => logger.warn(message, details);
const events = createEventSink(config.eventsTopicArn, eventSinkReports);
const preferencePorts = { preferences: createPreferencesStore(config.tableName), connections, poster, warn };
const pushPorts = createMobilePushPorts(config.tableName, warn);

/** What an action handler gets: the frame, who sent it, and on which connection. */
interface ActionContext<F> {
  readonly frame: F;
  readonly userId: string;
  readonly connectionId: string;
  /** Epoch ms, when the connection's `$connect` ran. */
  readonly connectedAt: number;
  /** Topic patterns the connection's token grants. */
  readonly grants: readonly string[];
  /** The frame's text as received (a `send` keeps its `data` exactly as written). */
  readonly body: string;
}

type Handlers = {
  [A in ServedFrame['action']]: (
    context: ActionContext<Extract<ServedFrame, { action: A }>>,
  ) => Promise<ServerFrame | string | undefined>;
};

/** One function per action; the return value (if any) is the route response to the caller. */
const actions: Handlers = {
  async ping({ frame }) {
    return { kind: 'pong', ...(frame.id !== undefined ? { id: frame.id } : {}), ts: Date.now() };
  },

  async resume({ frame, userId, connectionId }) {
    // Posted rather than returned: the answer is several frames, and their order matters.
    const unread: UnreadFrame = { kind: 'unread', ...(await inbox.unread(userId, Date.now())) };
    if ((await poster.post(connectionId, JSON.stringify(unread))) === 'gone') return undefined;
    for await (const page of backlogFrames(inbox, userId, {
      after: frame.after,
      from: frame.from,
      limit: frame.limit,
      nowMs: Date.now(),
    })) {
      if ((await poster.post(connectionId, page)) === 'gone') return undefined;
    }
    if (frame.broadcastAfter !== undefined) {
      const replay = { after: frame.broadcastAfter, nowMs: Date.now(), label: { broadcast: true } };
      for await (const page of backlogFrames(topicLogs, BROADCAST_LOG, replay)) {
        if ((await poster.post(connectionId, page)) === 'gone') return undefined;
      }
    }
    return undefined;
  },

  async subscribe({ frame, userId, connectionId, connectedAt, grants }) {
    const expiresAt = Math.floor(connectedAt / 1000) + config.connectionTtlSeconds;
    const { topic } = frame;
    const { presence } = await subscribe(
      topicPorts,
      { userId, connectionId, connectedAt, expiresAt, grants },
      topic,
    );
    const subscribed: SubscribedFrame = { kind: 'subscribed', topic, ...(presence ? { presence } : {}) };
    if (frame.after === undefined && frame.from === undefined) return subscribed;
    // With a cursor: the confirmation, then what the connection missed, in order.
    if ((await poster.post(connectionId, JSON.stringify(subscribed))) === 'gone') return undefined;
    const replay = { after: frame.after, from: frame.from, nowMs: Date.now(), label: { topic } };
    for await (const page of backlogFrames(topicLogs, topic, replay)) {
      if ((await poster.post(connectionId, page)) === 'gone') return undefined;
    }
    return undefined;
  },

  async send({ frame, userId, connectionId, grants, body }) {
    const dataJson = memberText(body, 'data') ?? 'null';
    return send(sendPorts, sendRules, { userId, connectionId, grants }, frame, dataJson, Date.now());
  },

  async prefs({ frame, userId }) {
    const change = {
      ...(frame.mute ? { mute: frame.mute } : {}),
      ...(frame.unmute ? { unmute: frame.unmute } : {}),
    };
    if (change.mute === undefined && change.unmute === undefined) {
      return prefsFrame(await preferencePorts.preferences.get(userId), config.mandatoryTypes);
    }
    const problem = preferencesChangeProblem(change, config.mandatoryTypes);
    if (problem !== undefined) throw new InvalidFrameError('INVALID_REQUEST', problem, 'prefs');
    // Every device of the user learns the new preferences, this one included.
    await changePreferences(preferencePorts, userId, change, config.mandatoryTypes, Date.now());
    return undefined;
  },

  async register({ frame, userId }) {
    const device = await registerDevice(
      pushPorts,
      config.mobilePush,
      userId,
      frame.platform,
      frame.token,
      Date.now(),
    );
    return { kind: 'registered', platform: device.platform, endpoint: device.endpointArn };
  },

  async unregister({ frame, userId }) {
    // Without mobile push no token can have been registered: nothing to look up.
    if (mobilePushEnabled(config.mobilePush)) {
      await unregisterDevice(pushPorts, userId, frame.token, Date.now());
    }
    return { kind: 'unregistered' };
  },

  async unsubscribe({ frame, userId, connectionId }) {
    await unsubscribe(topicPorts, { userId, connectionId }, frame.topic);
    return { kind: 'unsubscribed', topic: frame.topic };
  },

  async history({ frame, userId }) {
    const page = await historyPage(inbox, userId, {
      before: frame.before,
      source: frame.source,
      limit: frame.limit,
      nowMs: Date.now(),
    });
    const head = { kind: 'history', ...(frame.id !== undefined ? { id: frame.id } : {}) };
    return listFrameText(head, page.messages, { more: page.more });
  },

  async ack({ frame, userId, connectionId }) {
    const { newlyRead, unread, more } =
      frame.all === true
        ? await acknowledgeAll(inbox, userId, { source: frame.source, nowMs: Date.now() })
        : { ...(await acknowledge(inbox, userId, frame.ids ?? [], Date.now())), more: false };
    const read: ReadFrame = { kind: 'read', ids: newlyRead, unread, ...(more ? { more } : {}) };
    if (newlyRead.length === 0) return read;
    // Every device of the user learns the new read state, this one included.
    await postToUser({ connections, poster, warn }, userId, JSON.stringify(read), 8);
    await events.emit([
      { event: 'read', user: userId, device: connectionId, messageIds: newlyRead, ts: Date.now() },
    ]);
    return undefined;
  },
};

/**
 * `$default` and the action routes: answers each frame; an unknown action or a non-JSON frame
 * gets an `error` frame with a stable code, and the connection stays open.
 */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  const { connectionId } = event.requestContext;
  const userId = userIdOf(event);
  let action: string | undefined;
  let sendId: string | undefined;
  try {
    if (userId === undefined) throw new Error('message event without an authorized user');
    const body = decodeBody(event);
    const frame = parseClientFrame(body);
    action = frame.action;
    sendId = frame.action === 'send' ? frame.id : undefined;
    const run = actions[frame.action] as (
      context: ActionContext<ServedFrame>,
    ) => Promise<ServerFrame | string | undefined>;
    const connectedAt = event.requestContext.connectedAt ?? Date.now();
    const grants = topicGrantsOf(event);
    return respond(await run({ frame, userId, connectionId, connectedAt, grants, body }));
  } catch (error) {
    if (error instanceof InvalidFrameError) {
      return respond(errorFrame(error.frameCode, error.message, error.action));
    }
    if (error instanceof TopicForbiddenError || error instanceof TooManyTopicsError) {
      const code = error instanceof TopicForbiddenError ? 'FORBIDDEN' : 'TOO_MANY_TOPICS';
      return respond({ ...errorFrame(code, error.message, 'subscribe'), topic: error.topic });
    }
    if (error instanceof TooManyMutedError)
      return respond(errorFrame('INVALID_REQUEST', error.message, 'prefs'));
    if (error instanceof PushPlatformNotConfiguredError || error instanceof InvalidPushTokenError) {
      const code = error instanceof PushPlatformNotConfiguredError ? 'FORBIDDEN' : 'INVALID_REQUEST';
      return respond(errorFrame(code, error.message, 'register'));
    }
    if (error instanceof SendRefusedError) {
      return respond({
        ...errorFrame(error.refusal, error.message, 'send'),
        ...(error.topic !== undefined ? { topic: error.topic } : {}),
        id: sendId,
      });
    }
    logger.error('Frame failed', { connectionId, action, error: error as Error });
    // The action tells the client which request failed (e.g. a resume it should retry).
    return respond({
      ...errorFrame('INTERNAL', 'The server could not process this frame; try again.', action),
      ...(sendId !== undefined ? { id: sendId } : {}),
    });
  }
}

function decodeBody(event: WebSocketEvent): string {
  const body = event.body ?? '';
  return event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
}

function errorFrame(code: ErrorFrame['code'], message: string, action?: string): ErrorFrame {
  return { kind: 'error', code, message, ...(action !== undefined ? { action } : {}) };
}

/** The route response: a frame, or a frame's text already built (message lists carry raw data). */
function respond(frame: ServerFrame | string | undefined): WebSocketResult {
  if (frame === undefined) return { statusCode: 200 };
  return { statusCode: 200, body: typeof frame === 'string' ? frame : JSON.stringify(frame) };
}
