/**
 * Users' preferences end to end: set from a device or by a service, sent to every device, applied
 * when messages are delivered (a muted one is kept as read and pushed nowhere), mandatory types.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SNSClient } from '@aws-sdk/client-sns';
import { type PushlineClient, PushlineServerError } from '../../client/index.ts';
import { Publisher } from '../../publisher/index.ts';
import { connectWithin, newUser, stackClient, waitFor } from '../support/client-harness.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import type { Frame, TestSocket } from '../support/ws-client.ts';

async function request(socket: TestSocket, frame: Record<string, unknown>, kind: string): Promise<Frame> {
  const from = socket.frames.length;
  socket.send(frame);
  return socket.next((f) => f.kind === kind || f.kind === 'error', 30_000, from);
}

async function barrier(socket: TestSocket): Promise<void> {
  const id = unique('barrier');
  socket.send({ action: 'ping', id });
  await socket.next((f) => f.kind === 'pong' && f.id === id);
}

describe('preferences, end to end', () => {
  let target: Target;
  let publisher: Publisher;
  const sockets: TestSocket[] = [];
  const clients: PushlineClient[] = [];
  const connect = async (userId: string) => {
    const socket = await target.connect(userId);
    sockets.push(socket);
    return socket;
  };
  /** Publishes, waits until the stack has delivered it, and returns its id. */
  const publish = async (user: string, type: string, source?: string) => {
    const { id } = await publisher.publish({
      to: { users: [user] },
      type,
      ...(source ? { source } : {}),
      data: { type },
    });
    await target.local?.idle();
    return id;
  };

  before(async () => {
    target = await startTarget({ context: { mandatoryTypes: 'security' } });
    publisher = new Publisher({
      topicArn: target.outputs.TopicArn,
      client: new SNSClient({
        endpoint: target.outputs.AwsEndpointUrl,
        region: target.outputs.Region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    });
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    for (const client of clients) client.close();
    await target.stop();
  });

  it('sets them from one device for every device, and applies them to what is delivered', {
    skip: WEBSOCKET_SKIP,
    timeout: 120_000,
  }, async () => {
    const user = unique('pia');
    const [phone, laptop] = [await connect(user), await connect(user)];
    const none = await request(phone, { action: 'prefs' }, 'prefs');
    assert.deepEqual(none, {
      kind: 'prefs',
      muted: { types: [], sources: [] },
      mandatory: ['security'],
      version: 0,
    });

    phone.send({ action: 'prefs', mute: { types: ['promo'], sources: ['ads'] } });
    for (const device of [phone, laptop]) {
      const prefs = await device.next((f) => f.kind === 'prefs' && (f.version as number) > 0);
      assert.deepEqual(prefs.muted, { types: ['promo'], sources: ['ads'] });
    }

    const promo = await publish(user, 'promo');
    const ads = await publish(user, 'note', 'ads');
    const note = await publish(user, 'note', 'shop');
    const security = await publish(user, 'security', 'ads'); // mandatory: its muted source does not count
    for (const device of [phone, laptop]) {
      await device.next((f) => f.kind === 'message' && f.id === security);
      await barrier(device);
      const pushed = device.frames.filter((f) => f.kind === 'message').map((f) => f.id);
      assert.deepEqual(pushed, [note, security], 'only what is not muted, on every device');
    }

    const fresh = await connect(user);
    const unread = await request(fresh, { action: 'resume' }, 'unread');
    assert.equal(unread.total, 2, 'muted messages are not counted');
    const backlog = await fresh.next((f) => f.kind === 'backlog');
    const kept = new Map((backlog.messages as Frame[]).map((m) => [m.id, m.read === true]));
    assert.deepEqual(
      [kept.get(promo), kept.get(ads), kept.get(note), kept.get(security)],
      [true, true, false, false],
      'muted ones are kept, as read',
    );
  });

  it('refuses to mute a mandatory type, and a change that mutes and unmutes the same name', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const socket = await connect(unique('quinn'));
    const mandatory = await request(
      socket,
      { action: 'prefs', mute: { types: ['security', 'promo'] } },
      'prefs',
    );
    assert.equal(mandatory.code, 'INVALID_REQUEST');
    assert.match(String(mandatory.message), /"security" cannot be muted/);
    const both = await request(
      socket,
      { action: 'prefs', mute: { types: ['promo'] }, unmute: { types: ['promo'] } },
      'prefs',
    );
    assert.equal(both.code, 'INVALID_REQUEST');
    const unchanged = await request(socket, { action: 'prefs' }, 'prefs');
    assert.deepEqual(unchanged.muted, { types: [], sources: [] }, 'nothing applied');
  });

  it('lets a service change them with only its publish rights, telling the devices', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const user = unique('ray');
    const device = await connect(user);
    await publisher.setPreferences([user], { mute: { types: ['digest'] } });
    const prefs = await device.next((f) => f.kind === 'prefs');
    assert.deepEqual(prefs.muted, { types: ['digest'], sources: [] });
    const muted = await publish(user, 'digest');
    await publisher.setPreferences([user], { unmute: { types: ['digest'] } });
    await device.next((f) => f.kind === 'prefs' && (f.muted as { types: string[] }).types.length === 0);
    const pushed = await publish(user, 'digest');
    await device.next((f) => f.kind === 'message' && f.id === pushed);
    assert.equal(
      device.frames.some((f) => f.id === muted),
      false,
      'the one sent while muted was not pushed',
    );

    await publisher.setPreferences([user], { mute: { types: ['security'] } });
    const rejected = await target.rejected(5);
    assert.ok(
      rejected.some((entry) => /"security" cannot be muted/.test(entry.reason)),
      JSON.stringify(rejected.map((entry) => entry.reason)),
    );
  });

  it('with the client SDK: getPrefs, setPrefs, prefs events on every device, a refusal typed', {
    skip: WEBSOCKET_SKIP,
    timeout: 120_000,
  }, async () => {
    const user = newUser('sam');
    const [phone, laptop] = [stackClient(target.outputs, user), stackClient(target.outputs, user)];
    clients.push(phone, laptop);
    await Promise.all([connectWithin(phone), connectWithin(laptop)]);
    assert.deepEqual((await phone.getPrefs()).muted, { types: [], sources: [] });
    const seenOnLaptop: number[] = [];
    laptop.on('prefs', (prefs) => seenOnLaptop.push(prefs.muted.types.length));

    const after = await phone.setPrefs({ mute: { types: ['promo', 'digest'] } });
    assert.deepEqual(after.muted.types, ['digest', 'promo']);
    await waitFor(
      () => laptop.prefs?.muted.types.length === 2,
      () => `the laptop's preferences, got ${JSON.stringify(laptop.prefs)}`,
    );
    assert.deepEqual(seenOnLaptop, [2]);
    await assert.rejects(
      phone.setPrefs({ mute: { types: ['security'] } }),
      (error: unknown) => error instanceof PushlineServerError && error.serverCode === 'INVALID_REQUEST',
    );
    assert.deepEqual(phone.prefs?.muted.types, ['digest', 'promo'], 'unchanged');
  });
});
