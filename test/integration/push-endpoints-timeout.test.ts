import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';

/**
 * The mobile-push SNS client must give up on a call that is never answered (its 5 s request
 * timeout), not hold the delivery until the function's own timeout. A bug found: with
 * @smithy/node-http-handler 4.x a requestTimeout alone only logs a warning.
 */
describe('mobile push SNS client against an endpoint that never answers', () => {
  const sockets = new Set<Socket>();
  // Accepts connections and reads requests, but never writes a byte back.
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('close', () => sockets.delete(socket));
  });

  before(async () => {
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    assert.ok(address !== null && typeof address === 'object');
    process.env.AWS_ENDPOINT_URL_SNS = `http://127.0.0.1:${address.port}`;
    process.env.AWS_REGION = 'us-east-1';
    process.env.AWS_ACCESS_KEY_ID = 'local';
    process.env.AWS_SECRET_ACCESS_KEY = 'local';
    // One attempt: the question is whether the attempt ends, not how often the SDK retries.
    process.env.AWS_MAX_ATTEMPTS = '1';
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('fails the call after its request timeout', async () => {
    const { createPushEndpoints } = await import('../../functions/adapters/push-endpoints.ts');
    const endpoints = createPushEndpoints();
    const began = Date.now();
    // A bound far above the 5 s timeout, so that a hang fails the test instead of stalling it.
    let bound: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      endpoints.create('arn:aws:sns:us-east-1:000000000000:app/APNS/app', 'ab'.repeat(32)).then(
        () => 'answered',
        (error: unknown) => (error instanceof Error ? error.name : String(error)),
      ),
      new Promise<string>((resolve) => {
        bound = setTimeout(() => resolve('still waiting after 20 s'), 20_000);
      }),
    ]);
    clearTimeout(bound);

    assert.notEqual(outcome, 'still waiting after 20 s');
    assert.notEqual(outcome, 'answered');
    assert.ok(Date.now() - began >= 4_000, 'it waited for the request timeout, not less');
  });
});
