import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidMessageError, Publisher } from '../../publisher/index.ts';

// Every case here is refused before any request is made, so the topic never has to exist.
const publisher = new Publisher({ topicArn: 'arn:aws:sns:us-east-1:000000000000:nowhere' });

describe('Publisher input checks', () => {
  it('refuses a message that would not fit API Gateway once posted', async () => {
    const data = 'x'.repeat(130 * 1024);
    await assert.rejects(
      publisher.publish({ to: { users: ['alice'] }, type: 't', data }),
      (error: unknown) => error instanceof InvalidMessageError && /at most 131072/.test(error.message),
    );
  });

  it('refuses an invalid message with the field named', async () => {
    await assert.rejects(
      publisher.publish({ to: { users: [] }, type: 't', data: null }),
      (error: unknown) => error instanceof InvalidMessageError && /to/.test(error.message),
    );
  });

  it('refuses a topic that is not an ARN', () => {
    assert.throws(() => new Publisher({ topicArn: 'pushline' }), InvalidMessageError);
  });
});
