/**
 * `node --import tsx bench/overhead.ts`: Pushline's overhead over raw posting at the same concurrency
 * (issue 10: ≤ 10 % for push-only messages at fan-out ≥ 10), and the stored path's gap to it in
 * table requests per message. Real WebSocket clients (users × devices) on the local stack; three
 * modes take turns round by round (raw, push-only, stored, in a rotating order), so that a change
 * in the machine's load falls on all of them alike, and each figure is the median over rounds:
 *
 * - raw: the deliver function's own poster (functions/adapters/management-api.ts, the signed HTTP
 *   client) in this process, posting one frame to every connection with `CONCURRENCY` in flight;
 * - push-only: Publisher.publish to every user (persist: false), one envelope, one deliver
 *   invocation posting with the same concurrency (PUSHLINE_DELIVERY_CONCURRENCY);
 * - stored: the same with persist: true (inbox rows and unread counts written).
 *
 * Each message is sent once the previous one reached every connection (bounded wait), so no more
 * than `CONCURRENCY` posts are ever in flight in any mode. Deliveries/s = frames received / time.
 *
 * Options (environment): BENCH_OVERHEAD_USERS (100), BENCH_OVERHEAD_DEVICES (3),
 * BENCH_OVERHEAD_ROUNDS (10), BENCH_OVERHEAD_MESSAGES (5 per mode per round), BENCH_CONCURRENCY (32).
 * Progress on stderr; writes bench/results/overhead.json and overhead.svg (deliveries/s by round).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import WebSocket from 'ws';
import { createConnectionPoster } from '../functions/adapters/management-api.ts';
import { mapBounded } from '../functions/domain/fan-out.ts';
import { startLocalStack } from '../local/stack.ts';
import { mintLocalToken } from '../local/tokens.ts';
import { Publisher } from '../publisher/index.ts';
import { intEnv, machineFacts } from './env.ts';
import { median } from './plot.ts';
import { lineChart } from './svg-chart.ts';

const USERS = intEnv('BENCH_OVERHEAD_USERS', 100);
const DEVICES = intEnv('BENCH_OVERHEAD_DEVICES', 3);
const ROUNDS = intEnv('BENCH_OVERHEAD_ROUNDS', 10);
const MESSAGES = intEnv('BENCH_OVERHEAD_MESSAGES', 5);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 32);
const WAIT_MS = 30_000;
const TIME_LIMIT_MS = 240_000;
/** The issue's target (issue 10): push-only deliveries/s at most 10 % below raw posting's. */
const TARGET_OVERHEAD_PERCENT = 10;

type Mode = 'raw' | 'push' | 'stored';
const MODES: readonly Mode[] = ['raw', 'push', 'stored'];
const LABEL: Record<Mode, string> = {
  raw: 'baseline: raw posting (the deliver poster, signed HTTP)',
  push: 'Pushline push-only (persist: false)',
  stored: 'Pushline stored (persist: true)',
};

/** One mode's figures in one round. */
interface RoundFigures {
  readonly deliveries: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Time from the send to the first frame at a client, median over the round's messages. */
  readonly firstFrameMs: number;
  readonly deliverCpuMs: number;
  readonly tableRequests: Record<string, number>;
}

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// The raw poster signs with the environment's credentials, as the deliver function does.
process.env.AWS_ACCESS_KEY_ID ??= 'local';
process.env.AWS_SECRET_ACCESS_KEY ??= 'local';

const startedAt = Date.now();
const progress = (line: string) =>
  process.stderr.write(`[bench:overhead ${((Date.now() - startedAt) / 1000).toFixed(0)} s] ${line}\n`);

/** Counts message frames by id across every client, and when the first of each arrived. */
class Frames {
  readonly counts = new Map<string, number>();
  readonly first = new Map<string, number>();
  attach(socket: WebSocket): void {
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as { kind?: string; id?: unknown };
      if (frame.kind !== 'message' || typeof frame.id !== 'string') return;
      if (!this.first.has(frame.id)) this.first.set(frame.id, performance.now());
      this.counts.set(frame.id, (this.counts.get(frame.id) ?? 0) + 1);
    });
  }
}

async function main() {
  const loadBefore = loadavg();
  const fanOut = USERS * DEVICES;
  progress(
    `${cpus().length} cores, load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}; ${USERS} users × ${DEVICES} devices = fan-out ${fanOut}, ${ROUNDS} rounds × ${MESSAGES} messages per mode, concurrency ${CONCURRENCY}`,
  );
  const stack = await startLocalStack({ quiet: true, console: false, deliveryConcurrency: CONCURRENCY });
  const sockets: WebSocket[] = [];
  const frames = new Frames();
  try {
    const users = Array.from({ length: USERS }, (_, i) => `overhead-user-${i}`);
    await mapBounded(
      users.flatMap((user) => Array.from({ length: DEVICES }, () => user)),
      async (user) => {
        const socket = await open(stack.outputs.WebSocketUrl, user);
        frames.attach(socket);
        sockets.push(socket);
      },
      16,
    );
    const ids = stack.connectionIds();
    if (ids.length !== fanOut)
      throw new Error(`expected ${fanOut} connections, the gateway holds ${ids.length}`);
    progress(`${ids.length} clients connected`);

    process.env.AWS_REGION ??= stack.outputs.Region;
    const poster = createConnectionPoster(stack.outputs.CallbackUrl, {
      maxSockets: CONCURRENCY,
      client: 'http',
    });
    const publisher = new Publisher({
      topicArn: stack.outputs.TopicArn,
      client: new SNSClient({
        endpoint: stack.outputs.AwsEndpointUrl,
        region: stack.outputs.Region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    });

    let sequence = 0;
    /** Sends one message of a mode to every connection; resolves once all frames arrived. */
    const sendOne = async (mode: Mode): Promise<{ id: string; start: number }> => {
      const id = `overhead-${mode}-${++sequence}`;
      const start = performance.now();
      if (mode === 'raw') {
        const frame = JSON.stringify({ kind: 'message', id, type: 'bench', data: { n: sequence } });
        const outcomes = await mapBounded(
          ids,
          (connectionId) => poster.post(connectionId, frame),
          CONCURRENCY,
        );
        const failed = outcomes.filter((outcome) => outcome !== 'delivered').length;
        if (failed > 0) throw new Error(`${failed} raw posts of ${id} were not delivered`);
      } else {
        await publisher.publish({
          id,
          to: { users },
          type: 'bench',
          data: { n: sequence },
          persist: mode === 'stored',
        });
      }
      await waitFor(() => (frames.counts.get(id) ?? 0) >= fanOut, WAIT_MS, `${id} at ${fanOut} connections`);
      return { id, start };
    };

    const dynamoRequests = () => stack.awsStats().dynamoRequests;
    const measure = async (mode: Mode): Promise<RoundFigures> => {
      await stack.idle(30_000);
      const cpuBefore = stack.functionStats('deliver').cpuMs;
      const requestsBefore = dynamoRequests();
      const start = performance.now();
      const firsts: number[] = [];
      let deliveries = 0;
      for (let i = 0; i < MESSAGES; i++) {
        const sent = await sendOne(mode);
        firsts.push((frames.first.get(sent.id) ?? Number.NaN) - sent.start);
        deliveries += frames.counts.get(sent.id) ?? 0;
      }
      const seconds = (performance.now() - start) / 1000;
      // Writes that finish after the last frame (unread counts, pruning) belong to the same messages.
      await stack.idle(30_000);
      const requestsAfter = dynamoRequests();
      const tableRequests: Record<string, number> = {};
      for (const [operation, count] of Object.entries(requestsAfter)) {
        const made = count - (requestsBefore[operation] ?? 0);
        if (made > 0) tableRequests[operation] = made;
      }
      return {
        deliveries,
        seconds,
        perSecond: deliveries / seconds,
        firstFrameMs: median(firsts),
        deliverCpuMs: stack.functionStats('deliver').cpuMs - cpuBefore,
        tableRequests,
      };
    };

    for (const mode of MODES) await measure(mode);
    progress('warm-up done (one round per mode)');
    // Context: the local table's own rate at the deliver function's table concurrency (16), to
    // tell how much of a message's time its table requests take.
    const dynamo = new DynamoDBClient({
      endpoint: stack.outputs.AwsEndpointUrl,
      region: stack.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const probeStart = performance.now();
    const PROBES = 1000;
    await mapBounded(
      Array.from({ length: PROBES }, (_, i) => i),
      (i) =>
        dynamo.send(
          new PutItemCommand({
            TableName: stack.outputs.TableName,
            Item: { pk: { S: `overhead-probe#${i}` }, sk: { S: 'probe' }, expiresAt: { N: '0' } },
          }),
        ),
      16,
    );
    const tableRequestsPerSecond = PROBES / ((performance.now() - probeStart) / 1000);
    progress(`local table: ${tableRequestsPerSecond.toFixed(0)} PutItem/s at 16 in flight`);
    const rounds: Record<Mode, RoundFigures[]> = { raw: [], push: [], stored: [] };
    for (let round = 0; round < ROUNDS; round++) {
      if (Date.now() - startedAt > TIME_LIMIT_MS) {
        progress(`time limit (${TIME_LIMIT_MS / 1000} s) reached: ${round} rounds measured`);
        break;
      }
      const order = MODES.map((_, k) => MODES[(round + k) % MODES.length] as Mode);
      for (const mode of order) rounds[mode].push(await measure(mode));
      const last = (mode: Mode) => rounds[mode].at(-1)?.perSecond.toFixed(0);
      progress(
        `round ${round + 1}/${ROUNDS}: raw ${last('raw')}, push-only ${last('push')}, stored ${last('stored')} deliveries/s`,
      );
    }
    await report(rounds, fanOut, {
      engine: stack.outputs.DynamoDbEngine,
      tableRequestsPerSecond,
      loadBefore,
      loadAfter: loadavg(),
    });
  } finally {
    for (const socket of sockets) socket.terminate();
    await stack.stop();
  }
}

async function report(
  rounds: Record<Mode, readonly RoundFigures[]>,
  fanOut: number,
  run: { engine: string; tableRequestsPerSecond: number; loadBefore: number[]; loadAfter: number[] },
): Promise<void> {
  const summary = Object.fromEntries(
    MODES.map((mode) => {
      const list = rounds[mode];
      const deliveries = list.reduce((sum, r) => sum + r.deliveries, 0);
      const messages = deliveries / fanOut;
      const requests: Record<string, number> = {};
      for (const r of list)
        for (const [operation, count] of Object.entries(r.tableRequests))
          requests[operation] = (requests[operation] ?? 0) + count;
      const perMessage = Object.fromEntries(Object.entries(requests).map(([op, n]) => [op, n / messages]));
      const totalRequests = Object.values(requests).reduce((sum, n) => sum + n, 0);
      return [
        mode,
        {
          name: LABEL[mode],
          rounds: list.length,
          deliveries,
          medianPerSecond: median(list.map((r) => r.perSecond)),
          roundsPerSecond: list.map((r) => Math.round(r.perSecond)),
          medianMsPerMessage: median(list.map((r) => (r.seconds * 1000) / (r.deliveries / fanOut))),
          medianFirstFrameMs: median(list.map((r) => r.firstFrameMs)),
          deliverCpuMsPerDelivery: list.reduce((sum, r) => sum + r.deliverCpuMs, 0) / Math.max(1, deliveries),
          tableRequestsPerMessage: perMessage,
          tableRequestsPerDelivery: totalRequests / Math.max(1, deliveries),
        },
      ];
    }),
  ) as Record<
    Mode,
    {
      name: string;
      rounds: number;
      deliveries: number;
      medianPerSecond: number;
      roundsPerSecond: number[];
      medianMsPerMessage: number;
      medianFirstFrameMs: number;
      deliverCpuMsPerDelivery: number;
      tableRequestsPerMessage: Record<string, number>;
      tableRequestsPerDelivery: number;
    }
  >;
  const raw = summary.raw;
  const overhead = (mode: Mode) => (raw.medianPerSecond / summary[mode].medianPerSecond - 1) * 100;
  const byOperation = (perMessage: Record<string, number>) =>
    Object.entries(perMessage)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([op, n]) => `${op} ${n.toFixed(1)}`)
      .join(', ') || 'none';
  const lines = [
    '| mode | rounds | deliveries | deliveries/s (median) | overhead vs raw | ms per message | first frame ms | deliver CPU ms/delivery | table requests per message (by operation) | table requests/delivery |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---:|',
    ...MODES.map((mode) => {
      const s = summary[mode];
      const isRaw = mode === 'raw';
      return `| ${s.name} | ${s.rounds} | ${s.deliveries} | ${s.medianPerSecond.toFixed(0)} | ${isRaw ? '-' : `${overhead(mode).toFixed(1)} %`} | ${s.medianMsPerMessage.toFixed(1)} | ${s.medianFirstFrameMs.toFixed(1)} | ${isRaw ? '-' : s.deliverCpuMsPerDelivery.toFixed(3)} | ${isRaw ? '-' : byOperation(s.tableRequestsPerMessage)} | ${isRaw ? '-' : s.tableRequestsPerDelivery.toFixed(2)} |`;
    }),
  ];
  const header = [
    `Pushline overhead over raw posting, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    `Load average ${run.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${run.loadAfter.map((l) => l.toFixed(2)).join(' ')} after (a shared machine: other runs add noise); local table: ${run.engine}, ${run.tableRequestsPerSecond.toFixed(0)} PutItem/s at 16 in flight (measured in this run).`,
    `${USERS} users × ${DEVICES} devices = fan-out ${fanOut}; ${MESSAGES} messages per mode per round, each after the previous one reached every connection; ${CONCURRENCY} posts in flight in every mode; modes in turns, medians over rounds.`,
    'Overhead: raw deliveries/s over the mode’s, minus 1. First frame: from the send (publish or first post) to the first frame at a client.',
  ].join('\n');
  const pushOverhead = overhead('push');
  const push = summary.push;
  const stored = summary.stored;
  // What the gap is made of: the path before the first post (SNS, invoke, recipient queries) and
  // the deliver function's CPU per post, which shares this machine's cores with the gateway.
  const fixedMs = push.medianFirstFrameMs - raw.medianFirstFrameMs;
  const gapMs = push.medianMsPerMessage - raw.medianMsPerMessage;
  const pushRequests = Object.values(push.tableRequestsPerMessage).reduce((sum, n) => sum + n, 0);
  // The deliver function claims (PutItem) and looks up (Query) every user before its posts start.
  const tableMs = (pushRequests / run.tableRequestsPerSecond) * 1000;
  const bound = `bound by table requests: per message ${gapMs.toFixed(1)} ms slower than raw, ${fixedMs.toFixed(1)} ms of it before the first frame, where ${pushRequests.toFixed(0)} table requests (${byOperation(push.tableRequestsPerMessage)}) take about ${tableMs.toFixed(0)} ms at the local table's ${run.tableRequestsPerSecond.toFixed(0)}/s; deliver CPU ${push.deliverCpuMsPerDelivery.toFixed(3)} ms/delivery on ${cpus().length} shared cores`;
  const verdict =
    pushOverhead <= TARGET_OVERHEAD_PERCENT
      ? 'met'
      : `missed by ${(pushOverhead - TARGET_OVERHEAD_PERCENT).toFixed(1)} points`;
  const storedRequests = Object.values(stored.tableRequestsPerMessage).reduce((sum, n) => sum + n, 0);
  const targets = [
    `Target: overhead ≤ ${TARGET_OVERHEAD_PERCENT} % over raw posting (push-only, fan-out ${fanOut}): ${verdict} (${pushOverhead.toFixed(1)} %: push-only ${push.medianPerSecond.toFixed(0)} vs raw ${raw.medianPerSecond.toFixed(0)} deliveries/s; ${bound})`,
    `Target: stored path's gap explained by table requests: stored ${stored.medianPerSecond.toFixed(0)} deliveries/s (${overhead('stored').toFixed(1)} % over raw, ${(stored.medianMsPerMessage - push.medianMsPerMessage).toFixed(1)} ms per message over push-only) with ${storedRequests.toFixed(1)} table requests per message (${byOperation(stored.tableRequestsPerMessage)}; ${stored.tableRequestsPerDelivery.toFixed(2)} per delivery) against push-only's ${pushRequests.toFixed(1)} (${push.tableRequestsPerDelivery.toFixed(2)} per delivery)`,
  ];
  const text = `${header}\n\n${lines.join('\n')}\n\n${targets.join('\n')}\n`;
  console.log(`\n${text}`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(
    'bench/results/overhead.json',
    `${JSON.stringify(
      {
        ...machineFacts(),
        loadAverage: { before: run.loadBefore, after: run.loadAfter },
        table: run.engine,
        tableRequestsPerSecond: run.tableRequestsPerSecond,
        users: USERS,
        devices: DEVICES,
        fanOut,
        messagesPerRound: MESSAGES,
        concurrency: CONCURRENCY,
        targetOverheadPercent: TARGET_OVERHEAD_PERCENT,
        baseline: 'raw',
        overheadPercent: { push: pushOverhead, stored: overhead('stored') },
        modes: summary,
        rounds,
        targets,
      },
      null,
      2,
    )}\n`,
  );
  await writeFile('bench/results/overhead.svg', chart(rounds, fanOut));
  console.log('written to bench/results/overhead.json and overhead.svg');
}

/** Deliveries/s of each mode round by round: the modes took turns, so a load change shows on all three. */
function chart(rounds: Record<Mode, readonly RoundFigures[]>, fanOut: number): string {
  const colors: Record<Mode, string> = { raw: '#7f7f7f', push: '#1f77b4', stored: '#d62728' };
  const count = Math.max(...MODES.map((mode) => rounds[mode].length));
  return lineChart({
    title: 'Pushline beside raw posting, deliveries/s by round',
    subtitle: `fan-out ${fanOut} (${USERS} users × ${DEVICES} devices), ${CONCURRENCY} posts in flight; modes in turns; ${cpus().length} shared cores`,
    xLabel: 'round',
    yLabel: 'deliveries/s (log scale)',
    xTicks: Array.from({ length: count }, (_, i) => i + 1),
    series: MODES.map((mode) => ({
      name: mode === 'raw' ? 'raw posting' : mode === 'push' ? 'push-only' : 'stored',
      points: rounds[mode].map((r, i) => [i + 1, r.perSecond] as const),
      color: colors[mode],
      dashed: mode === 'raw',
    })),
    logY: true,
  });
}

async function open(url: string, user: string): Promise<WebSocket> {
  const socket = new WebSocket(`${url}?token=${await mintLocalToken(user)}`);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return socket;
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

await main();
