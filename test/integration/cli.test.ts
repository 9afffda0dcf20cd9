import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import { TestSocket } from '../support/ws-client.ts';

const run = promisify(execFile);

/** Runs `npx pushline …` as a user would, pointed at the target with the standard AWS variables. */
async function pushline(target: Target, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['cli/bin.js', ...args], {
    timeout: 60_000,
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: target.outputs.AwsEndpointUrl,
      AWS_REGION: target.outputs.Region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    },
  });
}

describe('the pushline command line, tried as a new user would', () => {
  let target: Target;
  before(async () => {
    target = await startTarget();
  });
  after(async () => {
    await target.stop();
  });

  it('prints a token the stack accepts, and publishes to a topic given by ARN', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const user = unique('cli');
    const { stdout: token } = await pushline(target, ['token', user]);
    const socket = await TestSocket.open(`${target.outputs.WebSocketUrl}?token=${token.trim()}`);
    try {
      const { stdout } = await pushline(target, [
        'publish',
        '--topic-arn',
        target.outputs.TopicArn,
        '--user',
        user,
        '--type',
        'greeting',
        '--data',
        '{"hi":1,"orderId":654366374251302912}',
      ]);
      assert.match(stdout, new RegExp(`^published \\S+ to ${user}`));
      const frame = await socket.next((f) => f.kind === 'message', 30_000);
      assert.equal((frame.data as { hi: number }).hi, 1);
      const text = socket.texts.find((t) => t.includes('"kind":"message"')) ?? '';
      assert.ok(text.includes('"orderId":654366374251302912'), `the digits as typed: ${text}`);
    } finally {
      await socket.close();
    }
  });

  it('refuses a publish without a type, with a usage error and exit code 2', async () => {
    await assert.rejects(
      pushline(target, ['publish', '--topic-arn', target.outputs.TopicArn, '--user', 'x']),
      (error: { code?: number; stderr?: string }) => error.code === 2 && /--type/.test(error.stderr ?? ''),
    );
  });

  it('lists rejected envelopes with their reason, and deletes them on request', async () => {
    const marker = unique('bad');
    await target.publish(JSON.stringify({ v: 1, to: { users: [marker] }, data: null }));
    await target.local?.idle();
    const queue = ['rejected', '--queue-url', target.outputs.RejectedQueueUrl, '--max', '50'];
    let listed = '';
    for (let attempt = 0; attempt < 20 && !listed.includes(marker); attempt++) {
      listed = (await pushline(target, [...queue, '--delete'])).stdout;
    }
    assert.match(listed, /reason: type: /);
    assert.ok(listed.includes(marker), 'the rejected body is printed');
    const after = await pushline(target, queue);
    assert.ok(!after.stdout.includes(marker), 'deleted envelopes are gone');
  });
});
