import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SNSClient } from '@aws-sdk/client-sns';
import { MAX_USERS_PER_ENVELOPE } from '../../functions/shared/envelope.ts';
import { Publisher } from '../../publisher/index.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import { eventually, type TestSocket } from '../support/ws-client.ts';

/** More users than one envelope holds, so the publisher library must split the list. */
const USERS = MAX_USERS_PER_ENVELOPE + 50;

describe('one message for many users, and one batch of different messages', () => {
  let target: Target;
  let publisher: Publisher;
  const sockets = new Map<string, TestSocket>();

  before(async () => {
    target = await startTarget();
    const aws = {
      endpoint: target.outputs.AwsEndpointUrl,
      region: target.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    publisher = new Publisher({ topicArn: target.outputs.TopicArn, client: new SNSClient(aws) });
  });
  after(async () => {
    await Promise.all([...sockets.values()].map((socket) => socket.close()));
    await target.stop();
  });

  it(`reaches each of ${USERS} users exactly once with each message meant for them, and no one with another's`, {
    skip: WEBSOCKET_SKIP,
    timeout: 5 * 60_000,
  }, async () => {
    const users = Array.from({ length: USERS }, (_, i) => unique(`reader${i}`));
    for (let i = 0; i < users.length; i += 25) {
      const batch = users.slice(i, i + 25);
      const opened = await Promise.all(batch.map((user) => target.connect(user)));
      for (const [index, user] of batch.entries()) sockets.set(user, opened[index] as TestSocket);
    }

    const everyone = await publisher.publish({ to: { users }, type: 'digest', data: 'for all of you' });
    assert.equal(everyone.snsMessageIds.length, Math.ceil(USERS / MAX_USERS_PER_ENVELOPE));
    // Seed 004's `[{receive, msg}, …]`: a different message for each user, in one call.
    const personal = await publisher.publishAll(
      users.map((user) => ({ to: { users: [user] }, type: 'badge', data: { for: user } })),
    );

    const expected = (index: number) => [everyone.id, (personal[index] as { id: string }).id].sort();
    await eventually(
      () => users.every((user) => (sockets.get(user) as TestSocket).messages().length >= 2),
      3 * 60_000,
      'both messages at every user',
    );
    await target.local?.idle();
    users.forEach((user, index) => {
      const messages = (sockets.get(user) as TestSocket).messages();
      assert.deepEqual(messages.map((m) => m.id).sort(), expected(index), user);
      assert.deepEqual(messages.find((m) => m.type === 'badge')?.data, { for: user });
    });
  });
});
