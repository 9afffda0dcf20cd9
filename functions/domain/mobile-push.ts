/**
 * Mobile push, the offline fallback: devices register a push token (one SNS platform endpoint per
 * token, one row per device in the user's partition), and a message of an opted-in type that no
 * connection of a user took is published to each of that user's endpoints through SNS, which hands
 * it to APNs or FCM. Endpoints SNS reports disabled (the platform said the token is no longer
 * valid) are deleted with their rows. It talks to the world only through the ports below (the SNS
 * and DynamoDB adapters in production, in-memory fakes in unit tests).
 */

import { PushlineError } from '../shared/errors.ts';
import {
  DEVICE_TTL_SECONDS,
  MAX_PUSH_DEVICES,
  MAX_PUSH_TEXT,
  MAX_PUSH_TITLE,
  type PushApplications,
  type PushPlatform,
} from '../shared/mobile-push.ts';
import { settleBounded } from './fan-out.ts';

/** One registered device of a user, as its row holds it (see table-schema.ts). */
export interface DeviceRecord {
  readonly endpointArn: string;
  readonly platform: PushPlatform;
  readonly token: string;
  /** Epoch ms of the last registration. */
  readonly registeredAt: number;
  /** Epoch seconds; the row is ignored after it even before TTL deletes it. */
  readonly expiresAt: number;
}

/** Users' device rows. */
export interface DeviceStore {
  /** The user's devices whose rows have not expired. */
  list(userId: string, nowMs: number): Promise<DeviceRecord[]>;
  /** Writes (or refreshes) the row of a device. */
  put(userId: string, device: DeviceRecord): Promise<void>;
  /** Deletes the row; a missing row is not an error. */
  remove(userId: string, endpointArn: string): Promise<void>;
}

/** What SNS says of an endpoint. */
export interface EndpointState {
  /** Its `CustomUserData`: the user it was last registered for. */
  readonly userId?: string;
  readonly enabled: boolean;
  readonly token: string;
}

/** How one publish to an endpoint ended: `disabled` (EndpointDisabled) and `gone` (NotFound) are stale. */
export type EndpointPublishOutcome = 'sent' | 'disabled' | 'gone';

/** SNS platform endpoints. */
export interface PushEndpoints {
  /** CreatePlatformEndpoint with the token alone: idempotent, the same ARN for the same token. */
  create(applicationArn: string, token: string): Promise<string>;
  /** GetEndpointAttributes; undefined when the endpoint does not exist. */
  describe(endpointArn: string): Promise<EndpointState | undefined>;
  /** SetEndpointAttributes: CustomUserData = the user, Enabled = true, Token = the token. */
  assign(endpointArn: string, userId: string, token: string): Promise<void>;
  /** Publish with MessageStructure json (and message attributes, e.g. the APNs push type). */
  publish(
    endpointArn: string,
    message: string,
    attributes: Readonly<Record<string, string>>,
  ): Promise<EndpointPublishOutcome>;
  /** DeleteEndpoint (idempotent). */
  remove(endpointArn: string): Promise<void>;
}

/** Everything mobile push talks to. */
export interface MobilePushPorts {
  readonly devices: DeviceStore;
  readonly endpoints: PushEndpoints;
  /** Receives failures that cost nothing but a log line. */
  readonly warn: (message: string, details: Record<string, unknown>) => void;
}

/** The deployer's mobile push settings. */
export interface MobilePushSettings {
  /** Application ARN per platform; a platform absent here cannot be registered. */
  readonly applications: PushApplications;
  /** Message types sent by mobile push to users no connection took. */
  readonly types: readonly string[];
}

/** A device asked for a platform the deployment has no application for. */
export class PushPlatformNotConfiguredError extends PushlineError {
  constructor(readonly platform: string) {
    super(
      'FORBIDDEN',
      `This deployment sends no mobile push to ${platform} (it has no platform application for it).`,
    );
  }
}

/** SNS refused the device token (InvalidParameter): a client error, the token is wrong. */
export class InvalidPushTokenError extends PushlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_REQUEST', message, options);
  }
}

/** Whether the deployment sends mobile push at all. */
export function mobilePushEnabled(settings: MobilePushSettings): boolean {
  return Object.keys(settings.applications).length > 0;
}

/** Why a registration cannot be made (for a service's control envelope), or undefined. */
export function registrationProblem(
  settings: MobilePushSettings,
  platform: PushPlatform,
): string | undefined {
  return settings.applications[platform] === undefined
    ? new PushPlatformNotConfiguredError(platform).message
    : undefined;
}

/** SNS stores APNs tokens lowercased; so does Pushline, so that a token compares equal to itself. */
export function normalToken(platform: PushPlatform, token: string): string {
  return platform === 'GCM' ? token : token.toLowerCase();
}

/**
 * Registers a device token for a user, idempotently (the same token gives the same endpoint):
 * 1. CreatePlatformEndpoint with the token alone (so that it never fails on other attributes);
 * 2. read the endpoint: when it belonged to another user (a shared or resold phone, a new login),
 *    that user's row is deleted; when the owner, the token or Enabled differ, they are set
 *    (Enabled=true: a fresh registration proves the token valid again);
 * 3. write the user's row, and drop the oldest devices beyond MAX_PUSH_DEVICES.
 */
export async function registerDevice(
  ports: MobilePushPorts,
  settings: MobilePushSettings,
  userId: string,
  platform: PushPlatform,
  rawToken: string,
  nowMs: number,
): Promise<DeviceRecord> {
  const applicationArn = settings.applications[platform];
  if (applicationArn === undefined) throw new PushPlatformNotConfiguredError(platform);
  const token = normalToken(platform, rawToken);
  const endpointArn = await ports.endpoints.create(applicationArn, token);
  const state = await ports.endpoints.describe(endpointArn);
  if (state?.userId !== undefined && state.userId !== userId) {
    await ports.devices.remove(state.userId, endpointArn);
  }
  if (state === undefined || state.userId !== userId || !state.enabled || state.token !== token) {
    await ports.endpoints.assign(endpointArn, userId, token);
  }
  const device: DeviceRecord = {
    endpointArn,
    platform,
    token,
    registeredAt: nowMs,
    expiresAt: Math.floor(nowMs / 1000) + DEVICE_TTL_SECONDS,
  };
  await ports.devices.put(userId, device);

  const devices = await ports.devices.list(userId, nowMs);
  if (devices.length > MAX_PUSH_DEVICES) {
    const oldest = devices
      .filter((other) => other.endpointArn !== endpointArn)
      .sort((a, b) => a.registeredAt - b.registeredAt)
      .slice(0, devices.length - MAX_PUSH_DEVICES);
    for (const stale of oldest) await forget(ports, userId, stale.endpointArn);
  }
  return device;
}

/**
 * Stops push to a token of the user: its endpoint is deleted with its row. A token the user has
 * not registered changes nothing (it may belong to another user now). Returns whether it was there.
 */
export async function unregisterDevice(
  ports: MobilePushPorts,
  userId: string,
  token: string,
  nowMs: number,
): Promise<boolean> {
  const devices = await ports.devices.list(userId, nowMs);
  const matching = devices.filter((device) => device.token === normalToken(device.platform, token));
  for (const device of matching) await forget(ports, userId, device.endpointArn);
  return matching.length > 0;
}

/** Deletes an endpoint and the user's row of it (the endpoint first: a row left alone is harmless). */
async function forget(ports: MobilePushPorts, userId: string, endpointArn: string): Promise<void> {
  await ports.endpoints.remove(endpointArn);
  await ports.devices.remove(userId, endpointArn);
}

/** The message as a notification needs it. */
export interface PushableMessage {
  readonly id: string;
  readonly type: string;
  readonly source?: string;
  readonly from?: string;
  /** The envelope's `data` as published (JSON text). */
  readonly dataJson: string;
}

/** What one round of mobile push did. */
export interface MobilePushReport {
  /** Users whose devices were looked up. */
  readonly users: number;
  /** Publishes SNS accepted. */
  readonly sent: number;
  /** Stale endpoints deleted (SNS answered EndpointDisabled or NotFound). */
  readonly removed: number;
  /** Users or endpoints that failed (a table or SNS error); logged, never thrown. */
  readonly failed: number;
  /** Users not tried because the deadline came. */
  readonly skipped: number;
}

/** How a round runs. */
export interface MobilePushOptions {
  /** Users (and endpoints) worked on at once. */
  readonly concurrency: number;
  /** Epoch ms after which no further user is started. */
  readonly deadlineMs?: number;
  readonly nowMs: number;
}

/**
 * Sends a message to the registered devices of users no connection took it for. The caller
 * decides who those are and whether the type is opted in. Best effort: a user whose look-up or
 * publish fails is counted and logged, and the others go on; nothing throws.
 */
export async function pushToDevices(
  ports: MobilePushPorts,
  message: PushableMessage,
  users: readonly string[],
  options: MobilePushOptions,
): Promise<MobilePushReport> {
  let sent = 0;
  let removed = 0;
  let failed = 0;
  let skipped = 0;
  let tried = 0;
  const content = notificationContent(message);
  await settleBounded(
    [...new Set(users)],
    async (userId) => {
      if (options.deadlineMs !== undefined && Date.now() >= options.deadlineMs) {
        skipped++;
        return;
      }
      tried++;
      let devices: DeviceRecord[];
      try {
        devices = await ports.devices.list(userId, options.nowMs);
      } catch (error) {
        failed++;
        ports.warn('Could not list the devices of a user; no mobile push for them', { userId, error });
        return;
      }
      for (const device of devices) {
        try {
          const { text, attributes } = snsMessage(device.platform, content);
          const outcome = await ports.endpoints.publish(device.endpointArn, text, attributes);
          if (outcome === 'sent') {
            sent++;
            continue;
          }
          await forget(ports, userId, device.endpointArn);
          removed++;
        } catch (error) {
          failed++;
          ports.warn('Mobile push to an endpoint failed', {
            userId,
            endpointArn: device.endpointArn,
            error,
          });
        }
      }
    },
    options.concurrency,
  );
  return { users: tried, sent, removed, failed, skipped };
}

/** What a notification shows and carries, whatever the platform. */
export interface NotificationContent {
  readonly title?: string;
  readonly body?: string;
  /** Small fields the app reads to open the message (all strings, as FCM data requires). */
  readonly data: Readonly<Record<string, string>>;
}

/**
 * The notification of a message: `data.title` and `data.text` (or `data.body`, or `data` itself
 * when it is a string) cut to a few hundred characters, and the message's id, type, source and
 * sender. The rest of `data` is never sent: the app fetches the message (resume or history) when
 * opened, and APNs and FCM take at most 4 KB.
 */
export function notificationContent(message: PushableMessage): NotificationContent {
  let data: unknown;
  try {
    data = JSON.parse(message.dataJson);
  } catch {
    data = undefined;
  }
  const field = (name: string): string | undefined => {
    if (typeof data !== 'object' || data === null) return undefined;
    const value = (data as Record<string, unknown>)[name];
    return typeof value === 'string' && value.trim() !== '' ? value : undefined;
  };
  const text = typeof data === 'string' && data.trim() !== '' ? data : (field('text') ?? field('body'));
  const title = field('title');
  return {
    ...(title !== undefined ? { title: cut(title, MAX_PUSH_TITLE) } : {}),
    ...(text !== undefined ? { body: cut(text, MAX_PUSH_TEXT) } : {}),
    data: {
      id: message.id,
      type: message.type,
      ...(message.source !== undefined ? { source: message.source } : {}),
      ...(message.from !== undefined ? { from: message.from } : {}),
    },
  };
}

/** SNS's message attribute naming the APNs push type (alert or background). */
export const APNS_PUSH_TYPE_ATTRIBUTE = 'AWS.SNS.MOBILE.APNS.PUSH_TYPE';

/** SNS's message attribute of the APNs priority (Apple requires 5 for background pushes). */
export const APNS_PRIORITY_ATTRIBUTE = 'AWS.SNS.MOBILE.APNS.PRIORITY';

/**
 * The MessageStructure=json text for one endpoint's platform: a `default` entry and the platform's
 * own. With text, an alert (APNs `aps.alert`, FCM `notification`); without, a background push
 * (APNs `content-available`, FCM data only) that the app turns into what it shows.
 */
export function snsMessage(
  platform: PushPlatform,
  content: NotificationContent,
): { text: string; attributes: Record<string, string> } {
  const alert = content.body !== undefined || content.title !== undefined;
  const summary = content.body ?? content.title ?? content.data.type ?? '';
  if (platform === 'GCM') {
    const fcm = {
      fcmV1Message: {
        message: {
          ...(alert
            ? {
                notification: {
                  ...(content.title !== undefined ? { title: content.title } : {}),
                  ...(content.body !== undefined ? { body: content.body } : {}),
                },
              }
            : {}),
          data: content.data,
          android: { priority: alert ? 'HIGH' : 'NORMAL' },
        },
      },
    };
    return { text: JSON.stringify({ default: summary, GCM: JSON.stringify(fcm) }), attributes: {} };
  }
  const aps = alert
    ? {
        alert: {
          ...(content.title !== undefined ? { title: content.title } : {}),
          ...(content.body !== undefined ? { body: content.body } : {}),
        },
        sound: 'default',
      }
    : { 'content-available': 1 };
  const apns = { aps, pushline: content.data };
  return {
    text: JSON.stringify({ default: summary, [platform]: JSON.stringify(apns) }),
    attributes: alert
      ? { [APNS_PUSH_TYPE_ATTRIBUTE]: 'alert' }
      : { [APNS_PUSH_TYPE_ATTRIBUTE]: 'background', [APNS_PRIORITY_ATTRIBUTE]: '5' },
  };
}

function cut(text: string, max: number): string {
  const characters = [...text];
  return characters.length <= max ? text : `${characters.slice(0, max - 1).join('')}…`;
}
