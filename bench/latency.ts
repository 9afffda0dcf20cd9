/**
 * `node --import tsx bench/latency.ts`: unicast publish → receive latency on the local stack, one
 * message at a time (issue 10: p50 ≤ 25 ms, p99 ≤ 60 ms). One real WebSocket client connects with a
 * local token; each message is published (Publisher.publish, as a service would) only after the
 * previous one arrived, push-only and stored (persist: true) in turns, beside the baseline measured
 * in the same run: one raw PostToConnection at a time to the same connection (the gateway's own
 * round trip). The time the SNS publish call alone takes is read from the same publishes. The three
 * series take turns message by message (in a rotating order), so a change in the machine's load
 * falls on all of them alike. Every wait is bounded: a message that does not arrive in time is
 * counted as a miss and reported (and a late arrival is counted too), never silently left out.
 *
 * Options (environment): BENCH_LATENCY_MESSAGES (500 per series), BENCH_LATENCY_WARM_UP (20 per
 * series), BENCH_LATENCY_TIMEOUT_MS (2000: the wait for one message). Progress on stderr; writes
 * bench/results/latency.json and latency.svg (the distribution of each series, as a CDF).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { SNSClient } from '@aws-sdk/client-sns';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import WebSocket from 'ws';
import { startLocalStack } from '../local/stack.ts';
import { mintLocalToken } from '../local/tokens.ts';
import { Publisher } from '../publisher/index.ts';
import { intEnv, machineFacts } from './env.ts';
import { nearestRank } from './plot.ts';
import { type ChartSeries, lineChart } from './svg-chart.ts';

const MESSAGES = intEnv('BENCH_LATENCY_MESSAGES', 500);
const WARM_UP = intEnv('BENCH_LATENCY_WARM_UP', 20);
const TIMEOUT_MS = intEnv('BENCH_LATENCY_TIMEOUT_MS', 2000);
/** The targets (issue 10), publish → receive, one message at a time. */
const TARGET = { p50Ms: 25, p99Ms: 60 } as const;
const USER = 'latency-user';

type SeriesName = 'raw' | 'push' | 'stored';
const SERIES: readonly SeriesName[] = ['raw', 'push', 'stored'];
const LABEL: Record<SeriesName, string> = {
  raw: 'baseline: raw PostToConnection',
  push: 'Pushline push-only (persist: false)',
  stored: 'Pushline stored (persist: true)',
};
const COLOR: Record<SeriesName | 'publish', string> = {
  raw: '#868e96',
  push: '#1c7ed6',
  stored: '#e8590c',
  publish: '#2b8a3e',
};

/** Percentiles of one series, in ms. */
interface Summary {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

interface SeriesResult extends Summary {
  readonly name: string;
  /** Messages that did not arrive within the bounded wait (left out of the percentiles). */
  readonly misses: number;
}

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const startedAt = Date.now();
const progress = (line: string) =>
  process.stderr.write(`[bench:latency ${((Date.now() - startedAt) / 1000).toFixed(0)} s] ${line}\n`);

/** The one client: resolves the wait for a message id when its frame arrives. */
class Receiver {
  readonly #waiting = new Map<string, (at: number) => void>();
  /** Ids whose wait had ended when they arrived. */
  readonly #given = new Set<string>();
  late = 0;
  constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const at = performance.now();
      const frame = JSON.parse(raw.toString()) as { kind?: string; id?: unknown };
      if (frame.kind !== 'message' || typeof frame.id !== 'string') return;
      const resolve = this.#waiting.get(frame.id);
      if (resolve !== undefined) {
        this.#waiting.delete(frame.id);
        resolve(at);
      } else if (this.#given.delete(frame.id)) this.late++;
    });
  }

  /** When the message with this id arrived (performance.now()), or undefined after `timeoutMs`. */
  arrival(id: string, timeoutMs: number): Promise<number | undefined> {
    // Registered before the send starts, so a frame that beats the send's response is not missed.
    return new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        this.#given.add(id);
        resolve(undefined);
      }, timeoutMs);
      this.#waiting.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}

async function main() {
  const loadBefore = loadavg();
  progress(
    `${cpus().length} cores, load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}; ${MESSAGES} messages per series after ${WARM_UP} of warm-up`,
  );
  const stack = await startLocalStack({ quiet: true, console: false });
  let receiver: Receiver | undefined;
  try {
    receiver = await open(stack.outputs.WebSocketUrl, USER);
    const [connectionId] = stack.connectionIds();
    if (connectionId === undefined) throw new Error('the gateway holds no connection');
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    const management = new ApiGatewayManagementApiClient({
      endpoint: stack.outputs.CallbackUrl,
      region: stack.outputs.Region,
      credentials,
      requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 1 }) }),
    });
    const publisher = new Publisher({
      topicArn: stack.outputs.TopicArn,
      client: new SNSClient({
        endpoint: stack.outputs.AwsEndpointUrl,
        region: stack.outputs.Region,
        credentials,
        requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 1 }) }),
      }),
    });
    progress(`connected ${USER} (${connectionId})`);

    let sequence = 0;
    const client = receiver;
    /** One message of one series: its receive latency and (for publishes) the publish call's time. */
    const once = async (series: SeriesName) => {
      const id = `latency-${series}-${++sequence}`;
      const arrival = client.arrival(id, TIMEOUT_MS);
      const start = performance.now();
      if (series === 'raw') {
        await management.send(
          new PostToConnectionCommand({
            ConnectionId: connectionId,
            Data: JSON.stringify({ kind: 'message', id, type: 'bench', data: { n: sequence } }),
          }),
        );
      } else {
        await publisher.publish({
          id,
          to: { users: [USER] },
          type: 'bench',
          data: { n: sequence },
          persist: series === 'stored',
        });
      }
      const sentAt = performance.now();
      const arrivedAt = await arrival;
      return {
        latencyMs: arrivedAt === undefined ? undefined : arrivedAt - start,
        sendMs: sentAt - start,
      };
    };

    for (let i = 0; i < WARM_UP; i++) for (const series of SERIES) await once(series);
    await stack.idle(10_000);
    progress(`warm-up done (${WARM_UP} per series)`);

    const latencies: Record<SeriesName, number[]> = { raw: [], push: [], stored: [] };
    const misses: Record<SeriesName, number> = { raw: 0, push: 0, stored: 0 };
    const publishCalls: number[] = [];
    const lateBefore = receiver.late;
    for (let i = 0; i < MESSAGES; i++) {
      // A rotating order: each series is first, second and third equally often.
      const order = SERIES.map((_, k) => SERIES[(i + k) % SERIES.length] as SeriesName);
      for (const series of order) {
        const { latencyMs, sendMs } = await once(series);
        if (latencyMs === undefined) misses[series]++;
        else latencies[series].push(latencyMs);
        if (series !== 'raw') publishCalls.push(sendMs);
      }
      if ((i + 1) % 100 === 0 || i + 1 === MESSAGES) progress(`${i + 1}/${MESSAGES} messages per series`);
    }
    // Late frames of the last messages still get their chance to be counted.
    await new Promise((resolve) => setTimeout(resolve, Math.min(TIMEOUT_MS, 2000)));
    const late = receiver.late - lateBefore;

    const results = Object.fromEntries(
      SERIES.map((series) => [
        series,
        { name: LABEL[series], ...summarize(latencies[series]), misses: misses[series] },
      ]),
    ) as Record<SeriesName, SeriesResult>;
    const publishCall = summarize(publishCalls);
    await report(results, publishCall, latencies, publishCalls, {
      late,
      engine: stack.outputs.DynamoDbEngine,
      loadBefore,
      loadAfter: loadavg(),
    });
  } finally {
    receiver?.socket.terminate();
    await stack.stop();
  }
}

function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const pick = (q: number) => nearestRank(sorted, q);
  return {
    samples: sorted.length,
    p50Ms: pick(0.5),
    p90Ms: pick(0.9),
    p99Ms: pick(0.99),
    maxMs: sorted.at(-1) ?? Number.NaN,
    meanMs: sorted.reduce((sum, v) => sum + v, 0) / Math.max(1, sorted.length),
  };
}

async function report(
  results: Record<SeriesName, SeriesResult>,
  publishCall: Summary,
  latencies: Record<SeriesName, readonly number[]>,
  publishCalls: readonly number[],
  run: { late: number; engine: string; loadBefore: number[]; loadAfter: number[] },
): Promise<void> {
  const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '-');
  const row = (name: string, s: Summary, missed: string) =>
    `| ${name} | ${s.samples} | ${missed} | ${ms(s.p50Ms)} | ${ms(s.p90Ms)} | ${ms(s.p99Ms)} | ${ms(s.maxMs)} | ${ms(s.meanMs)} |`;
  const lines = [
    '| series | received | missed | p50 ms | p90 ms | p99 ms | max ms | mean ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...SERIES.map((series) => row(results[series].name, results[series], String(results[series].misses))),
    row('the SNS publish call alone (both Pushline series)', publishCall, '-'),
  ];
  const header = [
    `Unicast publish → receive latency, one message at a time, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    `Load average ${run.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${run.loadAfter.map((l) => l.toFixed(2)).join(' ')} after (a shared machine: other runs add noise); local table: ${run.engine}.`,
    `${MESSAGES} messages per series after ${WARM_UP} of warm-up, the series in turns; each sent only after the previous one arrived or its ${TIMEOUT_MS} ms wait ended (a miss); ${run.late} arrived late.`,
    'Latency: from the start of the publish (or post) call to the frame at the client, on this process’s monotonic clock.',
  ].join('\n');
  const raw = results.raw;
  const targetLine = (label: string, key: 'p50Ms' | 'p99Ms') => {
    const limit = TARGET[key];
    const push = results.push[key];
    const stored = results.stored[key];
    const missed = results.push.misses + results.stored.misses;
    const verdict =
      push <= limit && stored <= limit && missed === 0
        ? 'met'
        : push <= limit && stored <= limit
          ? `missed: ${missed} message(s) did not arrive within ${TIMEOUT_MS} ms`
          : `missed by ${ms(Math.max(push, stored) - limit)} ms`;
    return `Target: unicast ${label} ≤ ${limit} ms: ${verdict} (push-only ${ms(push)} ms; stored ${ms(stored)} ms; raw post ${ms(raw[key])} ms; SNS publish call ${ms(publishCall[key])} ms)`;
  };
  const targets = [targetLine('p50', 'p50Ms'), targetLine('p99', 'p99Ms')];
  const text = `${header}\n\n${lines.join('\n')}\n\n${targets.join('\n')}\n`;
  console.log(`\n${text}`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(
    'bench/results/latency.json',
    `${JSON.stringify(
      {
        ...machineFacts(),
        loadAverage: { before: run.loadBefore, after: run.loadAfter },
        table: run.engine,
        messagesPerSeries: MESSAGES,
        warmUpPerSeries: WARM_UP,
        timeoutMs: TIMEOUT_MS,
        lateArrivals: run.late,
        target: TARGET,
        baseline: 'raw',
        series: results,
        publishCall,
        targets,
      },
      null,
      2,
    )}\n`,
  );
  await writeFile('bench/results/latency.svg', cdfChart(latencies, publishCalls));
  console.log('written to bench/results/latency.json and latency.svg');
}

/** The distribution of each series as a CDF (share of messages at or under x ms), log x. */
function cdfChart(latencies: Record<SeriesName, readonly number[]>, publishCalls: readonly number[]): string {
  const cdf = (values: readonly number[]): [number, number][] => {
    const sorted = [...values].sort((a, b) => a - b);
    // At most ~200 points a line: every quantile step of 0.5 %, plus the last.
    const step = Math.max(1, Math.floor(sorted.length / 200));
    const points: [number, number][] = [];
    for (let i = 0; i < sorted.length; i += step)
      points.push([sorted[i] as number, ((i + 1) / sorted.length) * 100]);
    if (sorted.length > 0) points.push([sorted.at(-1) as number, 100]);
    return points;
  };
  const all = [...Object.values(latencies).flat(), ...publishCalls].filter((v) => v > 0);
  const low = Math.min(...all, TARGET.p50Ms);
  const high = Math.max(...all, TARGET.p99Ms);
  const xTicks = [0.1, 0.2, 0.5, 1, 2, 5, 10, 25, 60, 100, 200, 500, 1000, 2000].filter(
    (tick) => tick >= low / 2 && tick <= high * 2,
  );
  const series: ChartSeries[] = SERIES.map((name) => ({
    name: LABEL[name].replace(' (persist: false)', '').replace(' (persist: true)', ''),
    points: cdf(latencies[name]),
    color: COLOR[name],
    markers: false,
    dashed: name === 'raw',
  }));
  series.push({
    name: 'SNS publish call alone',
    points: cdf(publishCalls),
    color: COLOR.publish,
    markers: false,
    dashed: true,
  });
  for (const [label, x] of [
    [`target p50 ${TARGET.p50Ms} ms`, TARGET.p50Ms],
    [`target p99 ${TARGET.p99Ms} ms`, TARGET.p99Ms],
  ] as const)
    series.push({
      name: label,
      points: [
        [x, 0],
        [x, x === TARGET.p50Ms ? 50 : 99],
      ],
      color: '#c92a2a',
      dashed: true,
      markers: true,
    });
  return lineChart({
    title: 'Unicast publish → receive latency, one message at a time',
    subtitle: `local stack, ${MESSAGES} messages per series, series in turns (CDF)`,
    xLabel: 'latency, ms (log scale)',
    yLabel: '% of messages received within x',
    xTicks,
    series,
    logX: true,
  });
}

async function open(url: string, user: string): Promise<Receiver> {
  const socket = new WebSocket(`${url}?token=${await mintLocalToken(user)}`);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return new Receiver(socket);
}

await main();
