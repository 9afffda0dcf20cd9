/**
 * Stored messages to many SDK applications while everything fails a little: connections are cut
 * (TCP dropped, as a network change does) and reopened, a share of posts is throttled (429) or
 * fails (500), a share of table requests fails, and a share of deliver invocations crash part way.
 * The delivery guarantee (README, "The delivery guarantee") promises every stored message to every
 * addressed application exactly once: live, or on its next resume. So once the faults stop, each
 * application reconnects once more (as after a network change) and must then hold every message
 * addressed to its user, each once, and none addressed to anyone else. Events that exhausted their
 * retries are redriven from the dead-letter queue first, as the README tells an operator to.
 * Local stack only: the fault knobs are the local runtime's.
 */
import fc from 'fast-check';
import type { PushlineClient } from '../../client/index.ts';
import { mapBounded } from '../../functions/domain/fan-out.ts';
import { connectWithin, Received, SocketTracker, stackClient } from '../support/client-harness.ts';
import type { Target } from '../support/target.ts';
import { drainQueue, progressPrinter, SectionRecorder, type SectionReport } from './report.ts';

export interface FaultOptions {
  readonly users: number;
  readonly messages: number;
  readonly seed: number;
  /** Share of posts to connections that fail (alternately 429 and 500). @default 0.05 */
  readonly postFailRate?: number;
  /** Share of table requests that fail (the SDK retries them). @default 0.05 */
  readonly tableFailRate?: number;
  /** Share of deliver invocations that crash part way. @default 0.02 */
  readonly crashRate?: number;
  /** One connection cut every this many ms while publishing. @default 100 */
  readonly cutEveryMs?: number;
  /** @default 8 */
  readonly concurrency?: number;
  /** Longest wait for the applications to catch up, after the faults stop. @default 180000 */
  readonly settleTimeoutMs?: number;
  /**
   * Longest wait, faults still on, for the deliveries (and their retries) to end after the last
   * publish; past it the faults stop anyway and the run says so. @default 60 ms a message, at least 2 min
   */
  readonly faultWindowMs?: number;
}

interface App {
  readonly userIndex: number;
  readonly client: PushlineClient;
  readonly received: Received;
}

export async function runFaults(target: Target, options: FaultOptions): Promise<SectionReport> {
  const postFailRate = options.postFailRate ?? 0.05;
  const tableFailRate = options.tableFailRate ?? 0.05;
  const crashRate = options.crashRate ?? 0.02;
  const cutEveryMs = options.cutEveryMs ?? 100;
  const recorder = new SectionRecorder(
    'faults',
    `${options.messages.toLocaleString('en-US')} stored messages to ${options.users} SDK applications (1 to 3 users each) while a connection is cut every ${cutEveryMs} ms, ${pct(postFailRate)} of posts fail (429 or 500), ${pct(tableFailRate)} of table requests fail and ${pct(crashRate)} of deliver invocations crash part way, seed ${options.seed}`,
  );
  const local = target.local;
  if (local === undefined) {
    recorder.count('skipped: the fault knobs need the local stack', 1);
    return recorder.report();
  }
  const progress = progressPrinter('faults');
  const run = `chaos-faults-${options.seed}-${Date.now().toString(36)}`;
  const sockets = new SocketTracker();
  const apps: App[] = Array.from({ length: options.users }, (_, userIndex) => {
    const userId = `${run}-u${userIndex}`;
    const client = stackClient(target.outputs, userId, {
      token: () => target.token(userId),
      WebSocket: sockets.WebSocket,
    });
    return { userIndex, client, received: new Received(client) };
  });
  await mapBounded(apps, (app) => connectWithin(app.client, 60_000), 16);
  progress(`${apps.length} applications connected`, true);

  const addressed = fc.sample(
    fc.uniqueArray(fc.integer({ min: 0, max: options.users - 1 }), { minLength: 1, maxLength: 3 }),
    { numRuns: options.messages, seed: options.seed },
  );
  const idOf = (index: number) => `${run}-m${index}`;

  // Faults on.
  let status: 429 | 500 = 429;
  local.setFaults({ errorRate: postFailRate, errorStatus: status });
  const flipStatus = setInterval(() => {
    status = status === 429 ? 500 : 429;
    local.setFaults({ errorRate: postFailRate, errorStatus: status });
  }, 1_000);
  local.setTableFaults({ errorRate: tableFailRate, errorType: 'ProvisionedThroughputExceededException' });
  local.setFunctionFaults('deliver', { crashRate });
  let cuts = 0;
  const cutter = setInterval(() => {
    const open = sockets.open;
    const victim = open[Math.floor(Math.random() * open.length)];
    if (victim === undefined) return;
    victim.terminate();
    cuts++;
  }, cutEveryMs);

  let published = 0;
  try {
    await mapBounded(
      addressed.map((users, index) => ({ users, index })),
      async ({ users, index }) => {
        await publishRetrying(target, {
          v: 1,
          id: idOf(index),
          to: { users: users.map((i) => `${run}-u${i}`) },
          type: 'chaos.fault',
          data: { index },
        });
        progress(`${++published} of ${addressed.length} published, ${cuts} connections cut`);
      },
      options.concurrency ?? 8,
    );
    // SNS answers before the deliveries run: keep the faults on until they (and their retries) end.
    progress(`published ${published}; waiting, faults still on, for the deliveries and their retries`, true);
    const windowMs = options.faultWindowMs ?? Math.max(120_000, options.messages * 60);
    const settled = await local.idle(windowMs).then(
      () => true,
      () => false,
    );
    // Not a failure in itself: what matters is what the applications hold at the end.
    recorder.count('deliveries still running when the faults stopped (1 = yes)', settled ? 0 : 1);
  } finally {
    clearInterval(cutter);
    clearInterval(flipStatus);
    local.setFaults({});
    local.setTableFaults({});
    local.setFunctionFaults('deliver', {});
  }
  progress('faults off', true);
  const redriven = await redriveDeadLetters(target);
  recorder.count('events redriven from the dead-letter queue', redriven);
  const liveOrResumed = apps.reduce((sum, app) => sum + app.received.messages.length, 0);

  // One more reconnect of every application, as after a network change: resumes bring the rest.
  for (const socket of sockets.open) socket.terminate();
  const expectedOf = (app: App) =>
    addressed.flatMap((users, index) => (users.includes(app.userIndex) ? [idOf(index)] : []));
  const total = apps.reduce((sum, app) => sum + expectedOf(app).length, 0);
  const deadline = Date.now() + (options.settleTimeoutMs ?? 180_000);
  for (;;) {
    const missing = apps.reduce((sum, app) => sum + app.received.missing(expectedOf(app)).length, 0);
    progress(`${total - missing} of ${total} messages held by the applications`);
    if (missing === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await local.idle(30_000).catch(() => undefined);

  let missing = 0;
  let twice = 0;
  let foreign = 0;
  for (const app of apps) {
    const expected = expectedOf(app);
    const expectedSet = new Set(expected);
    for (const id of app.received.missing(expected)) {
      missing++;
      recorder.fail(`user ${app.userIndex} never got ${id}`);
    }
    for (const id of app.received.duplicates) {
      twice++;
      recorder.fail(`user ${app.userIndex}'s application got ${id} more than once`);
    }
    for (const id of app.received.counts.keys())
      if (id.startsWith(run) && !expectedSet.has(id)) {
        foreign++;
        recorder.fail(`user ${app.userIndex} got ${id}, not addressed to them`);
      }
  }
  const stats = target.local?.awsStats();
  recorder.count('messages published', published);
  recorder.count('deliveries expected (application × message)', total);
  recorder.count('held before the final reconnect', liveOrResumed);
  recorder.count('missing at the end', missing);
  recorder.count('delivered to the application twice', twice);
  recorder.count('delivered to another user', foreign);
  recorder.count('connections cut', cuts);
  recorder.count('table requests failed on purpose', stats?.dynamoFaultsInjected ?? 0);
  recorder.count(
    'deliver invocations that failed (crashes, failed users)',
    local.functionStats('deliver').errors,
  );
  recorder.count('asynchronous invocation attempts', stats?.invocations ?? 0);
  await Promise.all(apps.map((app) => app.client.close()));
  return recorder.report();
}

/** Publishes, retrying a failed publish call (SNS's own answer) a few times: the call may meet the faults too. */
async function publishRetrying(target: Target, envelope: unknown): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await target.publish(envelope);
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/**
 * Invokes the deliver function again with the SNS event of each invocation record in the
 * dead-letter queue (what the README tells an operator to do), and deletes the record.
 */
async function redriveDeadLetters(target: Target): Promise<number> {
  const local = target.local;
  if (local === undefined) return 0;
  let redriven = 0;
  await drainQueue(target.sqs, target.outputs.DeadLetterQueueUrl, async (message) => {
    const record = JSON.parse(message.Body ?? '{}') as {
      requestPayload?: unknown;
      requestContext?: { functionArn?: string };
    };
    // Only the deliver function's records: a redrive goes back to the function that failed.
    if (record.requestPayload !== undefined && /deliver/i.test(record.requestContext?.functionArn ?? '')) {
      await local.invoke('deliver', record.requestPayload);
      redriven++;
    }
  });
  return redriven;
}

function pct(rate: number): string {
  return `${Math.round(rate * 1000) / 10} %`;
}
