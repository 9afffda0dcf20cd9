/**
 * The systems this project replaces (shared/seeds), each rebuilt end to end on the local stack with
 * the client SDK and the publisher library, as their users would use them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type PushlineClient, PushlineServerError } from '../../client/index.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { mintLocalToken } from '../../local/tokens.ts';
import { Presence, Publisher } from '../../publisher/index.ts';
import {
  connectWithin,
  LIMIT,
  newUser,
  Received,
  SocketTracker,
  stackClient,
  waitFor,
} from '../support/client-harness.ts';
import { WEBSOCKET_SKIP } from '../support/target.ts';
import { HandshakeRefused, TestSocket } from '../support/ws-client.ts';

describe('the systems this project replaces, rebuilt', { skip: WEBSOCKET_SKIP }, () => {
  let stack: LocalStack;
  let publisher: Publisher;
  let presence: Presence;
  const clients: PushlineClient[] = [];
  const client = (userId: string, topics?: string[], options: Parameters<typeof stackClient>[2] = {}) => {
    const made = stackClient(stack.outputs, userId, {
      token: () => mintLocalToken(userId, { topics }),
      ...options,
    });
    clients.push(made);
    return made;
  };

  before(async () => {
    stack = await startLocalStack({ quiet: true, console: false });
    const aws = {
      endpoint: stack.outputs.AwsEndpointUrl,
      region: stack.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    publisher = new Publisher({ topicArn: stack.outputs.TopicArn, client: new SNSClient(aws) });
    presence = new Presence({ tableName: stack.outputs.TableName, client: new DynamoDBClient(aws) });
  });
  after(async () => {
    for (const made of clients) made.close();
    await stack.stop();
  });

  it(
    "seed 000's message center: sources with unread counts and lists on load, /user and /topic pushes, stored messages",
    LIMIT,
    async () => {
      const user = newUser('clerk');
      const topic = `announcements.${user}`;
      // Business systems publish while the user is away: stored, counted per source.
      await publisher.publishAll([
        { to: { users: [user] }, type: 'approval', source: 'oa', data: { form: 1 } },
        { to: { users: [user] }, type: 'approval', source: 'oa', data: { form: 2 } },
        { to: { users: [user] }, type: 'invoice', source: 'billing', data: { invoice: 'A-1' } },
      ]);
      await stack.idle();

      // Page load: sources and their unread counts, and each source's list.
      const center = client(user, ['announcements.*']);
      const received = new Received(center);
      await connectWithin(center);
      await waitFor(
        () => center.unread?.total === 3,
        () => `three unread, got ${JSON.stringify(center.unread)}`,
      );
      assert.deepEqual(center.unread?.bySource, { oa: 2, billing: 1 });
      const oa = await center.history({ source: 'oa' });
      assert.deepEqual(
        oa.messages.map((m) => m.data),
        [{ form: 2 }, { form: 1 }],
        'newest first',
      );
      const billing = await center.history({ source: 'billing' });
      assert.deepEqual(
        billing.messages.map((m) => m.data),
        [{ invoice: 'A-1' }],
      );

      // A `/user/queue` push and a `/topic` push, live.
      await center.subscribe(topic);
      const direct = await publisher.publish({
        to: { users: [user] },
        type: 'approval',
        source: 'oa',
        data: 'live',
      });
      const announcement = await publisher.publish({ to: { topic }, type: 'notice', data: 'system upgrade' });
      await waitFor(
        () => received.missing([direct.id, announcement.id]).length === 0,
        () => 'the direct push and the topic push',
      );
      const topicMessage = received.messages.find((m) => m.id === announcement.id);
      assert.equal(topicMessage?.topic, topic);
      await waitFor(
        () => center.unread?.total === 4,
        () => `the direct push counted, the topic push not: ${JSON.stringify(center.unread)}`,
      );
      assert.deepEqual(received.duplicates, []);

      // Reading a source's messages clears its count on the server.
      center.ackAll({ source: 'oa' });
      await waitFor(
        () => center.unread?.bySource.oa === undefined || center.unread?.bySource.oa === 0,
        () => `oa read, got ${JSON.stringify(center.unread)}`,
      );
      assert.equal(center.unread?.total, 1);
    },
  );

  it(
    "seed 004's multi-device badge: unread on connect on every device, a batch for several users, the online check, one failing connection harming no other",
    LIMIT,
    async () => {
      const [owner, colleague] = [newUser('owner'), newUser('colleague')];
      await publisher.publish({ to: { users: [owner] }, type: 'badge', data: { n: 1 } });
      await stack.idle();

      // One account on three devices: each shows the unread count as soon as it connects.
      const tracker = new SocketTracker();
      const phone = client(owner, undefined, { WebSocket: tracker.WebSocket });
      const laptop = client(owner);
      const tablet = client(owner);
      const other = client(colleague);
      const seen = [phone, laptop, tablet, other].map((device) => new Received(device));
      await Promise.all([phone, laptop, tablet, other].map((device) => connectWithin(device)));
      for (const device of [phone, laptop, tablet]) {
        await waitFor(
          () => device.unread?.total === 1,
          () => 'the badge on connect',
        );
      }

      // The badge service asks who is online before choosing how to reach them.
      const offline = newUser('away');
      assert.deepEqual(await presence.online([owner, colleague, offline]), [
        { user: owner, online: true, connections: 3 },
        { user: colleague, online: true, connections: 1 },
        { user: offline, online: false, connections: 0 },
      ]);

      // The phone's network dies without a close; the gateway still lists it for a while.
      for (const socket of tracker.open) socket.terminate();
      phone.close();

      // One publish carrying different messages for different users (`[{receive, msg}, …]`).
      const results = await publisher.publishAll([
        { to: { users: [owner] }, type: 'badge', data: { n: 2 } },
        { to: { users: [colleague] }, type: 'badge', data: { n: 1, for: 'colleague' } },
      ]);
      const [forOwner, forColleague] = results.map((result) => result.id) as [string, string];
      const [, laptopSeen, tabletSeen, otherSeen] = seen as [Received, Received, Received, Received];
      for (const device of [laptopSeen, tabletSeen]) {
        await waitFor(
          () => device.missing([forOwner]).length === 0,
          () => 'the owner message on the devices still online',
        );
        assert.deepEqual(device.missing([forColleague]), [forColleague], "never the colleague's message");
      }
      await waitFor(
        () => otherSeen.missing([forColleague]).length === 0,
        () => "the colleague's message",
      );
      assert.deepEqual(otherSeen.missing([forOwner]), [forOwner]);
      for (const device of [laptop, tablet]) {
        await waitFor(
          () => device.unread?.total === 2,
          () => 'the badge after the push',
        );
      }
      for (const device of seen) assert.deepEqual(device.duplicates, []);
    },
  );

  it(
    "seed 001's cluster chat: a message one client sends reaches every connected client, heartbeats carry nothing",
    LIMIT,
    async () => {
      const room = `chat.${newUser('room')}`;
      const users = [newUser('ann'), newUser('ben'), newUser('cat')];
      // Each user on its own connection (on a cluster, each on any node: the gateway holds them all).
      const members = users.map((user) => client(user, [room]));
      const seen = members.map((member) => new Received(member));
      await Promise.all(members.map((member) => connectWithin(member)));
      await Promise.all(members.map((member) => member.subscribe(room)));

      const [ann, ben, cat] = members as [PushlineClient, PushlineClient, PushlineClient];
      const hello = await ann.send({ to: { topic: room }, type: 'chat', data: { text: 'hello, everyone' } });
      const pongMs = await ben.ping(); // a heartbeat: answered, and no message to anyone
      assert.ok(pongMs >= 0);
      for (const member of seen) {
        await waitFor(
          () => member.missing([hello.messageId]).length === 0,
          () => 'the chat message on every client',
        );
      }
      const atCat = seen[2]?.messages.find((m) => m.id === hello.messageId);
      assert.deepEqual([atCat?.from, atCat?.topic], [users[0], room]);

      // One user to another, off the room: only those two users see it.
      const direct = await cat.send({
        to: { user: users[1] as string },
        type: 'chat',
        data: { text: 'psst' },
      });
      await waitFor(
        () => seen[1]?.missing([direct.messageId]).length === 0,
        () => 'the direct message at its recipient',
      );
      await waitFor(
        () => seen[2]?.missing([direct.messageId]).length === 0,
        () => "the direct message on the sender's own client",
      );
      await ann.ping(); // every frame sent to ann before this has arrived
      assert.deepEqual(seen[0]?.missing([direct.messageId]), [direct.messageId], 'not at a third user');
      for (const member of seen) {
        assert.deepEqual(member.duplicates, []);
        assert.equal(
          member.messages.filter((m) => m.type !== 'chat').length,
          0,
          'pings and heartbeats are never messages',
        );
      }
    },
  );

  it(
    "seed 002's IM: typed messages between users, stored for one who is offline and replayed on return",
    LIMIT,
    async () => {
      const [li, mo] = [newUser('li'), newUser('mo')];
      const sender = client(li, undefined, { heartbeatMs: 500 }); // the seed's heartbeat, quicker
      await connectWithin(sender);
      // mo is offline: the messages wait in mo's inbox.
      const typed = [
        { type: 'im.text', data: { body: 'are you there?' } },
        { type: 'im.image', data: { url: 'https://example.invalid/cat.png' } },
        { type: 'im.order', data: { orderId: '654366374251302912' } },
      ];
      const receipts = [];
      for (const message of typed) receipts.push(await sender.send({ to: { user: mo }, ...message }));

      const receiver = client(mo);
      const received = new Received(receiver);
      await connectWithin(receiver);
      const ids = receipts.map((receipt) => receipt.messageId);
      await waitFor(
        () => received.missing(ids).length === 0,
        () => 'the stored messages on return',
      );
      const replayed = ids.map((id) => received.messages.find((m) => m.id === id));
      assert.deepEqual(
        replayed.map((m) => [m?.type, m?.from, m?.replayed]),
        typed.map((m) => [m.type, li, true]),
        'each with its type, from the sender, from the store',
      );
      // Replayed in store order (sends handled side by side may be stored in either order).
      const order = received.messages.filter((m) => ids.includes(m.id)).map((m) => m.seq ?? '');
      assert.deepEqual(order, [...order].sort());
      assert.equal(receiver.unread?.total, 3);

      // The answer comes live, and the sender's heartbeat has kept its connection the same one.
      const answer = await receiver.send({ to: { user: li }, type: 'im.text', data: { body: 'yes' } });
      const atSender = new Received(sender);
      await waitFor(
        () => atSender.missing([answer.messageId]).length === 0,
        () => 'the answer at the sender',
      );
      assert.equal(atSender.messages[0]?.replayed, false);
      assert.equal(sender.state, 'open');
    },
  );
});

describe("seed 003's robot push, rebuilt", { skip: WEBSOCKET_SKIP }, () => {
  let stack: LocalStack;
  let publisher: Publisher;
  let sns: SNSClient;
  let sqs: SQSClient;
  const clients: PushlineClient[] = [];

  before(async () => {
    stack = await startLocalStack({ quiet: true, console: false, context: { services: 'robot' } });
    const aws = {
      endpoint: stack.outputs.AwsEndpointUrl,
      region: stack.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    sns = new SNSClient(aws);
    sqs = new SQSClient(aws);
    publisher = new Publisher({ topicArn: stack.outputs.TopicArn, client: sns });
  });
  after(async () => {
    for (const made of clients) made.close();
    sns.destroy();
    sqs.destroy();
    await stack.stop();
  });

  it(
    'per-user type switches honoured, a refusal as a typed error, the auth hook refusing a bad token, a question answered by the robot',
    LIMIT,
    async () => {
      // The authorization hook on connect: a bad token never opens a socket.
      await assert.rejects(
        TestSocket.open(`${stack.outputs.WebSocketUrl}?token=not-a-token`),
        (error: unknown) => error instanceof HandshakeRefused && error.status === 403,
      );

      // The robot's queue, subscribed to what users send it.
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: newUser('robot') }));
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
      );
      await sns.send(
        new SubscribeCommand({
          TopicArn: stack.outputs.InboundTopicArn,
          Protocol: 'sqs',
          Endpoint: Attributes?.QueueArn,
          Attributes: { RawMessageDelivery: 'true', FilterPolicy: JSON.stringify({ service: ['robot'] }) },
        }),
      );

      const user = newUser('h5');
      const app = stackClient(stack.outputs, user, { heartbeatMs: 25_000 }); // the seed's ping interval
      clients.push(app);
      const received = new Received(app);
      await connectWithin(app);

      // The user switches promotions off; the robot's pushes honour it.
      await app.setPrefs({ mute: { types: ['robot.promo'] } });
      const promo = await publisher.publish({
        to: { users: [user] },
        from: 'robot',
        type: 'robot.promo',
        data: 'sale',
      });
      const tip = await publisher.publish({
        to: { users: [user] },
        from: 'robot',
        type: 'robot.tip',
        data: 'hint',
      });
      await waitFor(
        () => received.missing([tip.id]).length === 0,
        () => 'the tip',
      );
      await stack.idle();
      await app.ping();
      assert.deepEqual(received.missing([promo.id]), [promo.id], 'the muted type is not pushed');

      // An error reaches the client as a typed error, and the connection stays.
      await assert.rejects(
        app.send({ to: { service: 'payroll' }, type: 'question', data: null }),
        (error: unknown) => error instanceof PushlineServerError && error.serverCode === 'FORBIDDEN',
      );

      // The user asks; the robot reads its queue and answers that user.
      await app.send({ to: { service: 'robot' }, type: 'question', data: { text: 'where is my order?' } });
      let question: { from: string; id: string } | undefined;
      for (let round = 0; round < 20 && question === undefined; round++) {
        const answer = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
        const body = answer.Messages?.[0]?.Body;
        if (body !== undefined) question = JSON.parse(body) as { from: string; id: string };
      }
      assert.equal(question?.from, user, 'the verified user, not a client field');
      const reply = await publisher.publish({
        to: { users: [question?.from as string] },
        from: 'robot',
        type: 'robot.answer',
        data: { inReplyTo: question?.id, text: 'on its way' },
      });
      await waitFor(
        () => received.missing([reply.id]).length === 0,
        () => 'the answer',
      );
      assert.equal(received.messages.find((m) => m.id === reply.id)?.from, 'robot');
      assert.equal(app.state, 'open');
    },
  );
});
