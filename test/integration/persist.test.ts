import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { probeJava } from '../../emulator/aws/dynamodb.ts';
import { startTarget, type Target, unique } from '../support/target.ts';
import { TestSocket } from '../support/ws-client.ts';

/**
 * `npm start -- --persist`: a stored message, published before a restart, is in the user's inbox
 * after it (each engine keeps its tables in files under the folder given).
 */
describe('the local stack keeps its tables across a restart with persistDir', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushline-persist-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const javaSkip = probeJava().found ? false : 'needs Java 17+ for DynamoDB Local';
  for (const [engine, skip] of [
    ['dynalite', false],
    ['dynamodb-local', javaSkip],
  ] as const) {
    it(`finds a message stored before the restart (${engine})`, { skip, timeout: 240_000 }, async () => {
      const userId = unique(`persist-${engine}`);
      const persistDir = join(dir, engine);
      const resumeFrames = async (target: Target) => {
        const socket = await TestSocket.open(
          `${target.outputs.WebSocketUrl}?token=${encodeURIComponent(await target.token(userId))}`,
        );
        socket.send({ action: 'resume' });
        await socket.next((frame) => frame.kind === 'backlog' && frame.more !== true, 60_000);
        await socket.close();
        return socket.frames;
      };

      let target = await startTarget({ dynamo: engine, persistDir });
      try {
        await target.publish({
          v: 1,
          id: `${userId}-m1`,
          to: { users: [userId] },
          type: 'note',
          data: { n: 1 },
        });
        await target.local?.idle(30_000);
        const before = await resumeFrames(target);
        assert.ok(JSON.stringify(before).includes(`${userId}-m1`), 'stored before the restart');
      } finally {
        await target.stop();
      }

      target = await startTarget({ dynamo: engine, persistDir });
      try {
        const afterRestart = await resumeFrames(target);
        assert.ok(JSON.stringify(afterRestart).includes(`${userId}-m1`), 'still there after the restart');
      } finally {
        await target.stop();
      }

      // Without persistDir a restart starts empty: the check above can fail.
      const fresh = await startTarget({ dynamo: engine });
      try {
        assert.ok(!JSON.stringify(await resumeFrames(fresh)).includes(`${userId}-m1`));
      } finally {
        await fresh.stop();
      }
    });
  }
});
