/**
 * Isolation between users: many users connected at once, messages addressed at random (one user,
 * or a few), published concurrently. Each connection must get exactly the messages addressed to
 * its user, each once: 0 cross-user deliveries, 0 missing, 0 twice.
 */
import fc from 'fast-check';
import { mapBounded } from '../../functions/domain/fan-out.ts';
import type { Target } from '../support/target.ts';
import { progressPrinter, SectionRecorder, type SectionReport } from './report.ts';

export interface CrossUserOptions {
  readonly users: number;
  readonly messages: number;
  readonly seed: number;
  /** Users with a second connection (a second device), the first ones. @default a fifth */
  readonly twoDevices?: number;
  /** @default 16 */
  readonly concurrency?: number;
  /** @default 120000 */
  readonly settleTimeoutMs?: number;
}

export async function runCrossUser(target: Target, options: CrossUserOptions): Promise<SectionReport> {
  const twoDevices = options.twoDevices ?? Math.floor(options.users / 5);
  const recorder = new SectionRecorder(
    'cross-user isolation',
    `${options.messages.toLocaleString('en-US')} messages addressed at random to 1 to 3 of ${options.users} users (${twoDevices} of them with two devices), published ${options.concurrency ?? 16} at a time, seed ${options.seed}`,
  );
  const progress = progressPrinter('cross-user');
  const run = `chaos-iso-${options.seed}-${Date.now().toString(36)}`;
  const userIds = Array.from({ length: options.users }, (_, i) => `${run}-u${i}`);
  const devices = await Promise.all(
    userIds.flatMap((userId, i) => {
      const count = i < twoDevices ? 2 : 1;
      return Array.from({ length: count }, async () => ({ user: i, socket: await target.connect(userId) }));
    }),
  );
  const addressed = fc.sample(
    fc.uniqueArray(fc.integer({ min: 0, max: options.users - 1 }), { minLength: 1, maxLength: 3 }),
    { numRuns: options.messages, seed: options.seed },
  );

  let published = 0;
  await mapBounded(
    addressed.map((users, index) => ({ users, index })),
    async ({ users, index }) => {
      await target.publish({
        v: 1,
        id: `${run}-m${index}`,
        to: { users: users.map((i) => userIds[i]) },
        type: 'chaos.isolation',
        data: { index, users },
        persist: index % 2 === 0,
      });
      progress(`${++published} of ${addressed.length} published`);
    },
    options.concurrency ?? 16,
  );

  const expectedPerDevice = devices.map(
    ({ user }) => addressed.filter((users) => users.includes(user)).length,
  );
  const deadline = Date.now() + (options.settleTimeoutMs ?? 120_000);
  const total = expectedPerDevice.reduce((sum, n) => sum + n, 0);
  for (;;) {
    const got = devices.reduce((sum, { socket }) => sum + socket.messages().length, 0);
    progress(`${got} of ${total} deliveries`);
    if (got >= total || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // A short quiet period: a cross-user or repeated delivery would come after the expected ones.
  await target.local?.idle(10_000);

  let crossUser = 0;
  let twice = 0;
  let missing = 0;
  devices.forEach(({ user, socket }, device) => {
    const seen = new Map<number, number>();
    for (const frame of socket.messages()) {
      const { index, users } = frame.data as { index: number; users: number[] };
      seen.set(index, (seen.get(index) ?? 0) + 1);
      if (!users.includes(user)) {
        crossUser++;
        recorder.fail(`user ${user} got message ${index}, addressed to users ${users.join(', ')}`);
      }
    }
    for (const [index, times] of seen)
      if (times > 1) {
        twice++;
        recorder.fail(`device ${device} of user ${user} got message ${index} ${times} times`);
      }
    const expected = addressed.flatMap((users, index) => (users.includes(user) ? [index] : []));
    for (const index of expected)
      if (!seen.has(index)) {
        missing++;
        recorder.fail(`device ${device} of user ${user} never got message ${index}`);
      }
  });
  recorder.count('messages published', published);
  recorder.count('deliveries expected', total);
  recorder.count(
    'deliveries received',
    devices.reduce((sum, { socket }) => sum + socket.messages().length, 0),
  );
  recorder.count('cross-user deliveries', crossUser);
  recorder.count('missing', missing);
  recorder.count('received twice', twice);
  await Promise.all(devices.map(({ socket }) => socket.close()));
  return recorder.report();
}
