import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deliver, type UserDelivery } from '../../functions/domain/delivery.ts';
import {
  type DeviceRecord,
  type DeviceStore,
  type EndpointPublishOutcome,
  type EndpointState,
  type MobilePushPorts,
  notificationContent,
  type PushEndpoints,
  PushPlatformNotConfiguredError,
  pushToDevices,
  registerDevice,
  snsMessage,
  unregisterDevice,
} from '../../functions/domain/mobile-push.ts';
import { MAX_PUSH_DEVICES, MAX_PUSH_TEXT } from '../../functions/shared/mobile-push.ts';
import { memoryPorts } from '../support/fakes.ts';

const APNS_APP = 'arn:aws:sns:us-east-1:000000000000:app/APNS/shop';
const GCM_APP = 'arn:aws:sns:us-east-1:000000000000:app/GCM/shop';
const settings = { applications: { APNS: APNS_APP, GCM: GCM_APP }, types: ['chat.text'] };

class MemoryDevices implements DeviceStore {
  readonly rows = new Map<string, Map<string, DeviceRecord>>();
  failListFor = new Set<string>();
  async list(userId: string, nowMs: number) {
    if (this.failListFor.has(userId)) throw new Error('table unavailable');
    return [...(this.rows.get(userId)?.values() ?? [])].filter((d) => d.expiresAt > nowMs / 1000);
  }
  async put(userId: string, device: DeviceRecord) {
    const rows = this.rows.get(userId) ?? new Map<string, DeviceRecord>();
    rows.set(device.endpointArn, device);
    this.rows.set(userId, rows);
  }
  async remove(userId: string, endpointArn: string) {
    this.rows.get(userId)?.delete(endpointArn);
  }
  arns(userId: string): string[] {
    return [...(this.rows.get(userId)?.keys() ?? [])];
  }
}

class MemoryEndpoints implements PushEndpoints {
  readonly endpoints = new Map<string, EndpointState & { application: string }>();
  readonly published: { endpointArn: string; message: string; attributes: Record<string, string> }[] = [];
  readonly outcomes = new Map<string, EndpointPublishOutcome | Error>();
  private next = 0;
  async create(applicationArn: string, token: string) {
    for (const [arn, endpoint] of this.endpoints) {
      if (endpoint.application === applicationArn && endpoint.token === token) return arn;
    }
    const arn = `${applicationArn.replace(':app/', ':endpoint/')}/e${++this.next}`;
    this.endpoints.set(arn, { application: applicationArn, token, enabled: true });
    return arn;
  }
  async describe(endpointArn: string) {
    return this.endpoints.get(endpointArn);
  }
  async assign(endpointArn: string, userId: string, token: string) {
    const endpoint = this.endpoints.get(endpointArn);
    if (endpoint) this.endpoints.set(endpointArn, { ...endpoint, userId, token, enabled: true });
  }
  async publish(endpointArn: string, message: string, attributes: Readonly<Record<string, string>>) {
    const outcome = this.outcomes.get(endpointArn);
    if (outcome instanceof Error) throw outcome;
    if (outcome !== undefined) return outcome;
    this.published.push({ endpointArn, message, attributes: { ...attributes } });
    return 'sent' as const;
  }
  async remove(endpointArn: string) {
    this.endpoints.delete(endpointArn);
  }
}

function pushPorts() {
  const warnings: string[] = [];
  const ports = {
    devices: new MemoryDevices(),
    endpoints: new MemoryEndpoints(),
    warn: (message: string) => warnings.push(message),
  } satisfies MobilePushPorts;
  return { ...ports, warnings };
}

const NOW = Date.parse('2030-01-01T00:00:00Z');
const hex = (n: number) => n.toString(16).padStart(64, 'a');
const message = { id: 'm1', type: 'chat.text', dataJson: '{"text":"Hi"}' };

describe('device registration', () => {
  it('creates one endpoint per token, idempotently, with a row in the user’s partition', async () => {
    const ports = pushPorts();
    const first = await registerDevice(ports, settings, 'ana', 'APNS', hex(1).toUpperCase(), NOW);
    const again = await registerDevice(ports, settings, 'ana', 'APNS', hex(1), NOW + 1000);
    assert.equal(again.endpointArn, first.endpointArn);
    assert.equal(first.token, hex(1), 'APNs tokens are kept lowercased');
    assert.deepEqual(ports.devices.arns('ana'), [first.endpointArn]);
    assert.equal(ports.endpoints.endpoints.get(first.endpointArn)?.userId, 'ana');
    assert.equal(ports.devices.rows.get('ana')?.get(first.endpointArn)?.registeredAt, NOW + 1000);
  });

  it('moves a token registered by another user out of the former user’s partition', async () => {
    const ports = pushPorts();
    const device = await registerDevice(ports, settings, 'ana', 'GCM', 'fcm-token', NOW);
    await registerDevice(ports, settings, 'bo', 'GCM', 'fcm-token', NOW);
    assert.deepEqual(ports.devices.arns('ana'), []);
    assert.deepEqual(ports.devices.arns('bo'), [device.endpointArn]);
    assert.equal(ports.endpoints.endpoints.get(device.endpointArn)?.userId, 'bo');
  });

  it('enables again an endpoint SNS disabled when its token is registered again', async () => {
    const ports = pushPorts();
    const device = await registerDevice(ports, settings, 'ana', 'GCM', 'fcm-token', NOW);
    const endpoint = ports.endpoints.endpoints.get(device.endpointArn);
    if (endpoint) ports.endpoints.endpoints.set(device.endpointArn, { ...endpoint, enabled: false });
    await registerDevice(ports, settings, 'ana', 'GCM', 'fcm-token', NOW);
    assert.equal(ports.endpoints.endpoints.get(device.endpointArn)?.enabled, true);
  });

  it('refuses a platform the deployment has no application for', async () => {
    const ports = pushPorts();
    await assert.rejects(
      registerDevice(ports, settings, 'ana', 'APNS_SANDBOX', hex(1), NOW),
      (error) => error instanceof PushPlatformNotConfiguredError && error.code === 'FORBIDDEN',
    );
    assert.equal(ports.endpoints.endpoints.size, 0);
  });

  it('keeps at most MAX_PUSH_DEVICES devices, dropping the least recently registered', async () => {
    const ports = pushPorts();
    const arns: string[] = [];
    for (let n = 0; n <= MAX_PUSH_DEVICES; n++) {
      arns.push((await registerDevice(ports, settings, 'ana', 'APNS', hex(n), NOW + n)).endpointArn);
    }
    assert.equal(ports.devices.arns('ana').length, MAX_PUSH_DEVICES);
    assert.equal(ports.devices.arns('ana').includes(arns[0] as string), false, 'the oldest went');
    assert.equal(ports.endpoints.endpoints.has(arns[0] as string), false, 'with its endpoint');
  });

  it('unregisters a token of the user only, deleting its endpoint and row', async () => {
    const ports = pushPorts();
    const device = await registerDevice(ports, settings, 'ana', 'APNS', hex(7), NOW);
    assert.equal(await unregisterDevice(ports, 'bo', hex(7), NOW), false, 'not another user’s');
    assert.equal(ports.endpoints.endpoints.size, 1);
    assert.equal(await unregisterDevice(ports, 'ana', hex(7).toUpperCase(), NOW), true);
    assert.deepEqual(ports.devices.arns('ana'), []);
    assert.equal(ports.endpoints.endpoints.has(device.endpointArn), false);
  });
});

describe('pushing to devices', () => {
  it('publishes to every device of each user, with the payload of its platform', async () => {
    const ports = pushPorts();
    const apple = await registerDevice(ports, settings, 'ana', 'APNS', hex(1), NOW);
    const android = await registerDevice(ports, settings, 'ana', 'GCM', 'fcm', NOW);
    const report = await pushToDevices(ports, message, ['ana'], { concurrency: 4, nowMs: NOW });
    assert.deepEqual(report, { users: 1, sent: 2, removed: 0, failed: 0, skipped: 0 });
    const byArn = new Map(ports.endpoints.published.map((p) => [p.endpointArn, p]));
    const apns = JSON.parse(JSON.parse(byArn.get(apple.endpointArn)?.message ?? '{}').APNS);
    assert.deepEqual(apns.aps.alert, { body: 'Hi' });
    const gcm = JSON.parse(JSON.parse(byArn.get(android.endpointArn)?.message ?? '{}').GCM);
    assert.deepEqual(gcm.fcmV1Message.message.data, { id: 'm1', type: 'chat.text' });
  });

  it('deletes endpoints SNS reports disabled or not found, with their rows', async () => {
    const ports = pushPorts();
    const disabled = await registerDevice(ports, settings, 'ana', 'APNS', hex(1), NOW);
    const gone = await registerDevice(ports, settings, 'ana', 'APNS', hex(2), NOW);
    const fine = await registerDevice(ports, settings, 'ana', 'GCM', 'fcm', NOW);
    ports.endpoints.outcomes.set(disabled.endpointArn, 'disabled');
    ports.endpoints.outcomes.set(gone.endpointArn, 'gone');
    const report = await pushToDevices(ports, message, ['ana'], { concurrency: 4, nowMs: NOW });
    assert.equal(report.sent, 1);
    assert.equal(report.removed, 2);
    assert.deepEqual(ports.devices.arns('ana'), [fine.endpointArn]);
    assert.equal(ports.endpoints.endpoints.has(disabled.endpointArn), false);
  });

  it('counts and logs a failing user or endpoint, and goes on with the others', async () => {
    const ports = pushPorts();
    const broken = await registerDevice(ports, settings, 'ana', 'APNS', hex(1), NOW);
    await registerDevice(ports, settings, 'ana', 'GCM', 'fcm', NOW);
    await registerDevice(ports, settings, 'bo', 'GCM', 'fcm-bo', NOW);
    await registerDevice(ports, settings, 'cy', 'GCM', 'fcm-cy', NOW);
    ports.endpoints.outcomes.set(broken.endpointArn, new Error('throttled'));
    ports.devices.failListFor.add('bo');
    const report = await pushToDevices(ports, message, ['ana', 'bo', 'cy'], { concurrency: 2, nowMs: NOW });
    assert.deepEqual(report, { users: 3, sent: 2, removed: 0, failed: 2, skipped: 0 });
    assert.equal(ports.warnings.length, 2);
    assert.equal(ports.devices.arns('ana').length, 2, 'a failure is not a stale endpoint');
  });

  it('starts no user after the deadline', async () => {
    const ports = pushPorts();
    await registerDevice(ports, settings, 'ana', 'GCM', 'fcm', NOW);
    const report = await pushToDevices(ports, message, ['ana'], {
      concurrency: 1,
      nowMs: NOW,
      deadlineMs: Date.now() - 1,
    });
    assert.deepEqual(report, { users: 0, sent: 0, removed: 0, failed: 0, skipped: 1 });
    assert.deepEqual(ports.endpoints.published, []);
  });
});

describe('the notification of a message', () => {
  it('shows data.title and data.text (or body, or a string data) cut short, and carries ids only', () => {
    const long = 'é'.repeat(MAX_PUSH_TEXT + 50);
    const content = notificationContent({
      id: 'm1',
      type: 'chat.text',
      source: 'chat',
      from: 'bo',
      dataJson: JSON.stringify({ title: 'Bo', text: long, image: 'x'.repeat(10_000) }),
    });
    assert.equal(content.title, 'Bo');
    assert.equal([...(content.body ?? '')].length, MAX_PUSH_TEXT);
    assert.ok(content.body?.endsWith('…'));
    assert.deepEqual(content.data, { id: 'm1', type: 'chat.text', source: 'chat', from: 'bo' });
    assert.equal(notificationContent({ ...message, dataJson: '"plain"' }).body, 'plain');
    assert.equal(notificationContent({ ...message, dataJson: '{"body":"b"}' }).body, 'b');
    assert.equal(notificationContent({ ...message, dataJson: '{"n":1}' }).body, undefined);
  });

  it('stays far below the 4 KB APNs and FCM take, whatever the data', () => {
    const content = notificationContent({
      id: 'i'.repeat(128),
      type: 't'.repeat(128),
      source: 's'.repeat(128),
      from: 'f'.repeat(256),
      dataJson: JSON.stringify({ title: '😀'.repeat(500), text: '😀'.repeat(5000) }),
    });
    for (const platform of ['APNS', 'APNS_SANDBOX', 'GCM'] as const) {
      const { text } = snsMessage(platform, content);
      const own = JSON.parse(text)[platform] as string;
      assert.ok(Buffer.byteLength(own) < 4096, `${platform}: ${Buffer.byteLength(own)} bytes`);
    }
  });

  it('is a background push without text: APNs content-available at priority 5, FCM data only', () => {
    const content = notificationContent({ ...message, dataJson: '{"n":1}' });
    const apns = snsMessage('APNS_SANDBOX', content);
    assert.deepEqual(JSON.parse(JSON.parse(apns.text).APNS_SANDBOX).aps, { 'content-available': 1 });
    assert.deepEqual(apns.attributes, {
      'AWS.SNS.MOBILE.APNS.PUSH_TYPE': 'background',
      'AWS.SNS.MOBILE.APNS.PRIORITY': '5',
    });
    const fcm = JSON.parse(JSON.parse(snsMessage('GCM', content).text).GCM);
    assert.equal(fcm.fcmV1Message.message.notification, undefined);
  });
});

describe('the users the delivery report lists as unreached', () => {
  let counter = 0;
  const delivery = (overrides: Partial<UserDelivery> = {}): UserDelivery => ({
    id: `u${++counter}`,
    users: ['alice', 'bob', 'carol'],
    type: 'chat.text',
    dataJson: '{}',
    ts: Date.now(),
    persist: true,
    retentionSeconds: 3600,
    ...overrides,
  });
  const options = { owner: 'attempt', postConcurrency: 4, tableConcurrency: 4 };

  it('are the stored users no connection took: none open, or every one gone', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    ports.connections.add('bob', 'b1');
    ports.poster.answers.set('b1', ['gone']);
    const report = await deliver(ports, delivery(), options);
    assert.deepEqual([...report.unreached].sort(), ['bob', 'carol']);
  });

  it('count a connection still in its $connect as not reached, and a failed post as a retry', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1', Date.now());
    ports.poster.answers.set('a1', ['gone']);
    ports.connections.add('bob', 'b1');
    ports.poster.answers.set('b1', ['failed']);
    const report = await deliver(ports, delivery({ users: ['alice', 'bob'] }), options);
    assert.deepEqual(report.unreached, ['alice']);
    assert.deepEqual(report.retryUsers, ['bob']);
  });

  it('leave out muted users and duplicates', async () => {
    const ports = memoryPorts();
    ports.connections.preferences.set('eve', { mutedTypes: ['chat.text'], mutedSources: [], version: 1 });
    assert.deepEqual((await deliver(ports, delivery({ users: ['eve'] }), options)).unreached, []);
    const once = delivery({ users: ['dan'] });
    assert.deepEqual((await deliver(ports, once, options)).unreached, ['dan']);
    assert.deepEqual((await deliver(ports, once, { ...options, owner: 'again' })).unreached, []);
  });
});
