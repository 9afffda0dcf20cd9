/**
 * `npm run bench:cpu`: the deliver function's thread CPU per delivered message across fan-out 1 to
 * 1,000 (users × devices: 1×1, 1×10, 10×1, 10×10, 100×1, 100×10), with each
 * management API client (PUSHLINE_MANAGEMENT_CLIENT) in the same run: `sdk`, the SDK's
 * ApiGatewayManagementApiClient (the baseline), and `http`, SigV4-signed requests over a keep-alive
 * agent. One local stack (gateway, DynamoDB, SNS) serves both; each client gets its own Lambda
 * runtime holding one deliver instance, invoked directly with SNS events, the two taking turns
 * (ABBA) and every shape measured in every round, so that a change in the machine's load falls
 * on every figure alike. CPU is what the invocations
 * used on their own thread (Linux schedstat, as `npm run bench` reads it), cold starts excluded.
 * A second pair of runtimes runs bench/post-handler.ts: the same posts with no table work, to show
 * the posting share.
 *
 * Options (environment): BENCH_CPU_ROUNDS (20: in each, one message per shape and one batch of
 * 200 posts per client), BENCH_CPU_MAX_FAN_OUT (1000: shapes above it are left out, to shorten a
 * run), BENCH_CPU_TIME_LIMIT_S (600: past it, no new round starts and the rounds measured so far
 * are reported). Loopback only. Writes bench/results/deliver-cpu.json and deliver-cpu.svg (CPU per
 * delivery against fan-out).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import WebSocket from 'ws';
import { LambdaRuntime } from '../emulator/lambda/lambda-runtime.ts';
import type { FunctionSpec } from '../emulator/topology.ts';
import { mapBounded } from '../functions/domain/fan-out.ts';
import { ENV } from '../functions/shared/environment.ts';
import type { ManagementClient } from '../functions/shared/management-client.ts';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import { mintLocalToken } from '../local/tokens.ts';
import { intEnv, machineFacts } from './env.ts';
import { type ChartSeries, lineChart } from './svg-chart.ts';

const ROUNDS = intEnv('BENCH_CPU_ROUNDS', 20);
const MAX_FAN_OUT = intEnv('BENCH_CPU_MAX_FAN_OUT', 1000);
const TIME_LIMIT_MS = intEnv('BENCH_CPU_TIME_LIMIT_S', 600) * 1000;
const WARM_UP_ROUNDS = 2;
const POSTS_PER_INVOCATION = 200;
const CONCURRENCY = 32;
/** The issue's target (issue 10), in ms of deliver CPU per delivered message at fan-out ≥ 10. */
const TARGET_MS = 0.1;
/** The baseline first. */
const CLIENTS: readonly ManagementClient[] = ['sdk', 'http'];
const CLIENT_LABEL: Record<ManagementClient, string> = {
  sdk: 'SDK client',
  http: 'signed HTTP',
};

/** Who a message goes to: `users` users with `devices` connections each (fan-out users × devices). */
interface Shape {
  readonly users: number;
  readonly devices: number;
}
/** The sweep: one device per user and ten, so that per-user work (table requests) and per-connection work (posts) show apart. */
const SHAPES: readonly Shape[] = [
  { users: 1, devices: 1 },
  { users: 1, devices: 10 },
  { users: 10, devices: 1 },
  { users: 10, devices: 10 },
  { users: 100, devices: 1 },
  { users: 100, devices: 10 },
].filter((shape) => shape.users * shape.devices <= MAX_FAN_OUT);

/** One client's figures for one shape. */
interface Measured {
  readonly invocations: number;
  readonly delivered: number;
  readonly cpuMs: number;
  /** cpuMs / delivered. */
  readonly cpuMsPerDelivery: number;
  /** The median over invocations of (CPU / delivered): steadier than the mean on a busy machine. */
  readonly medianCpuMsPerDelivery: number;
  /** DynamoDB requests per delivered message (the table work the posts share). */
  readonly tableRequestsPerDelivery: number;
}

interface Row {
  readonly name: string;
  readonly fanOut: number;
  /** The deliver rows' recipients; absent for the posts-only row. */
  readonly shape?: Shape;
  readonly clients: Record<ManagementClient, Measured>;
}

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const startedAt = Date.now();
const progress = (line: string) =>
  process.stderr.write(`[bench:cpu ${((Date.now() - startedAt) / 1000).toFixed(0)} s] ${line}\n`);

const pastTimeLimit = () => Date.now() - startedAt > TIME_LIMIT_MS;

/** One benchmark client: counts the frames it receives by message id. */
class Receiver {
  readonly counts = new Map<string, number>();
  constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as { id?: unknown };
      const id = typeof frame.id === 'string' ? frame.id : '';
      this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    });
  }
}

async function main() {
  const loadBefore = loadavg();
  progress(`${cpus().length} cores, load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
  const stack = await startLocalStack({ quiet: true, console: false, deliveryConcurrency: CONCURRENCY });
  const receivers: Receiver[] = [];
  const runtimes: LambdaRuntime[] = [];
  try {
    const deliverSpec = stack.topology.functions.find((fn) => fn.name === 'deliver');
    if (deliverSpec === undefined) throw new Error('The topology has no deliver function.');
    const runtimeFor = (client: ManagementClient, spec: FunctionSpec) => {
      const runtime = new LambdaRuntime({
        // One instance: invocations run one after the other on one thread, and it warms once.
        functions: [
          {
            ...spec,
            maxConcurrency: 1,
            environment: { ...spec.environment, [ENV.managementClient]: client },
          },
        ],
        baseEnvironment: {
          AWS_REGION: stack.outputs.Region,
          AWS_DEFAULT_REGION: stack.outputs.Region,
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          AWS_ENDPOINT_URL: stack.outputs.AwsEndpointUrl,
          POWERTOOLS_METRICS_DISABLED: 'true',
          POWERTOOLS_LOG_LEVEL: 'WARN',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
        log: (line) => process.stderr.write(`${line}\n`),
      });
      runtimes.push(runtime);
      return runtime;
    };
    const deliverers = Object.fromEntries(CLIENTS.map((c) => [c, runtimeFor(c, deliverSpec)])) as Record<
      ManagementClient,
      LambdaRuntime
    >;
    const postSpec: FunctionSpec = {
      name: 'post',
      entry: 'bench/post-handler.ts',
      environment: { [ENV.callbackUrl]: stack.outputs.CallbackUrl },
    };
    const posters = Object.fromEntries(CLIENTS.map((c) => [c, runtimeFor(c, postSpec)])) as Record<
      ManagementClient,
      LambdaRuntime
    >;
    await Promise.all(runtimes.map((runtime) => runtime.warm()));
    progress('deliver and post functions warm');

    const shapes = SHAPES.map((shape, index) => ({
      shape,
      users: Array.from({ length: shape.users }, (_, u) => `cpu-${index}-user-${u}`),
    }));
    for (const { shape, users } of shapes) {
      await mapBounded(
        users.flatMap((user) => Array.from({ length: shape.devices }, () => user)),
        async (user) => receivers.push(await open(stack.outputs.WebSocketUrl, user)),
        16,
      );
    }
    progress(`${receivers.length} clients connected`);

    const tableRequests = () =>
      Object.values(stack.awsStats().dynamoRequests).reduce((sum, count) => sum + count, 0);
    const arrived = (id: string) => receivers.reduce((sum, r) => sum + (r.counts.get(id) ?? 0), 0);

    let sequence = 0;
    /** Invokes one client's deliver function with one message; its CPU, deliveries and table requests. */
    const deliverOnce = async (client: ManagementClient, users: readonly string[], fanOut: number) => {
      const id = `cpu-${client}-${++sequence}`;
      const runtime = deliverers[client];
      const cpuBefore = runtime.stats('deliver').cpuMs;
      const requestsBefore = tableRequests();
      await runtime.invoke('deliver', snsEvent(stack, id, users));
      const cpuMs = runtime.stats('deliver').cpuMs - cpuBefore;
      const requests = tableRequests() - requestsBefore;
      await waitFor(() => arrived(id) >= fanOut, 10_000, `message ${id} at ${fanOut} connections`);
      return { cpuMs, delivered: arrived(id), requests };
    };

    type Sample = { cpuMs: number; delivered: number; requests: number };
    const emptySamples = (): Record<ManagementClient, Sample[]> => ({ sdk: [], http: [] });
    const deliverSamples = shapes.map(emptySamples);
    const postSamples = emptySamples();

    // The posting alone: the same frames to connections of the same gateway, no table work.
    const ids = stack.connectionIds();
    const frame = JSON.stringify({ kind: 'message', id: 'posts-only', type: 'bench', data: { n: 1 } });
    const batchIds = Array.from({ length: POSTS_PER_INVOCATION }, (_, i) => ids[i % ids.length] as string);
    const postOnce = async (client: ManagementClient): Promise<Sample> => {
      const runtime = posters[client];
      const before = runtime.stats('post').cpuMs;
      const result = (await runtime.invoke('post', { connectionIds: batchIds, frame })) as {
        delivered: number;
      };
      return { cpuMs: runtime.stats('post').cpuMs - before, delivered: result.delivered, requests: 0 };
    };

    for (let i = 0; i < WARM_UP_ROUNDS; i++) {
      for (const client of CLIENTS) {
        for (const { shape, users } of shapes) await deliverOnce(client, users, shape.users * shape.devices);
        await postOnce(client);
      }
    }
    progress(`warm-up done (${WARM_UP_ROUNDS} rounds)`);
    // Every round runs every shape and a posts-only batch with both clients, each client first in
    // every other round (ABBA): a change in the machine's load falls on every figure alike.
    let rounds = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // A long run keeps what it measured: rounds end, not the run.
      if (pastTimeLimit()) {
        progress(`time limit (${TIME_LIMIT_MS / 1000} s) reached: ${round} rounds measured`);
        break;
      }
      const order = round % 2 === 0 ? CLIENTS : [...CLIENTS].reverse();
      for (const [index, { shape, users }] of shapes.entries()) {
        for (const client of order) {
          deliverSamples[index]?.[client].push(await deliverOnce(client, users, shape.users * shape.devices));
        }
      }
      for (const client of order) postSamples[client].push(await postOnce(client));
      rounds = round + 1;
      if ((round + 1) % 5 === 0 || round + 1 === ROUNDS) progress(`round ${round + 1}/${ROUNDS}`);
    }

    const rows: Row[] = shapes.map(({ shape }, index) => {
      const samples = deliverSamples[index] ?? emptySamples();
      const devices = `${shape.devices} device${shape.devices > 1 ? 's' : ''}`;
      return {
        name: `deliver, ${shape.users} user${shape.users > 1 ? 's' : ''} × ${devices} (stored)`,
        fanOut: shape.users * shape.devices,
        shape,
        clients: { sdk: summarize(samples.sdk), http: summarize(samples.http) },
      };
    });
    rows.push({
      name: `posts only (bench/post-handler.ts), ${POSTS_PER_INVOCATION} per invocation`,
      fanOut: POSTS_PER_INVOCATION,
      clients: { sdk: summarize(postSamples.sdk), http: summarize(postSamples.http) },
    });

    await report(rows, rounds, { engine: stack.outputs.DynamoDbEngine, loadBefore, loadAfter: loadavg() });
  } finally {
    for (const receiver of receivers) receiver.socket.terminate();
    for (const runtime of runtimes) await runtime.close();
    await stack.stop();
  }
}

function summarize(samples: readonly { cpuMs: number; delivered: number; requests: number }[]): Measured {
  const cpuMs = samples.reduce((sum, s) => sum + s.cpuMs, 0);
  const delivered = samples.reduce((sum, s) => sum + s.delivered, 0);
  const requests = samples.reduce((sum, s) => sum + s.requests, 0);
  const ratios = samples.map((s) => s.cpuMs / Math.max(1, s.delivered)).sort((a, b) => a - b);
  return {
    invocations: samples.length,
    delivered,
    cpuMs,
    cpuMsPerDelivery: cpuMs / Math.max(1, delivered),
    medianCpuMsPerDelivery: ratios[Math.floor(ratios.length / 2)] ?? Number.NaN,
    tableRequestsPerDelivery: requests / Math.max(1, delivered),
  };
}

/** An SNS event as the local SNS hands it to the deliver function. */
function snsEvent(stack: LocalStack, id: string, users: readonly string[]) {
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: `${stack.outputs.TopicArn}:bench`,
        Sns: {
          Type: 'Notification',
          MessageId: id,
          TopicArn: stack.outputs.TopicArn,
          Subject: null,
          Message: JSON.stringify({
            v: 1,
            id,
            to: { users },
            type: 'bench',
            data: { text: 'x'.repeat(100) },
          }),
          Timestamp: new Date().toISOString(),
          SignatureVersion: '1',
          Signature: 'TE9DQUwtVU5TSUdORUQ=',
          SigningCertUrl: 'http://127.0.0.1/SimpleNotificationService-local.pem',
          UnsubscribeUrl: 'http://127.0.0.1/?Action=Unsubscribe',
          MessageAttributes: {},
        },
      },
    ],
  };
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

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function report(
  rows: readonly Row[],
  rounds: number,
  machine: { engine: string; loadBefore: number[]; loadAfter: number[] },
): Promise<void> {
  const ms = (value: number) => value.toFixed(3);
  // What posting alone costs per post, to tell how much of a delivery's CPU is the post.
  const postsOnly = rows.find((row) => !row.name.startsWith('deliver'))?.clients;
  const share = (client: ManagementClient, row: Row) =>
    postsOnly === undefined
      ? '-'
      : `${Math.round((postsOnly[client].cpuMsPerDelivery / row.clients[client].cpuMsPerDelivery) * 100)}%`;
  const lines = [
    `| run | fan-out | ${CLIENT_LABEL.sdk} ms/delivery (baseline) | ${CLIENT_LABEL.http} ms/delivery | change | median per invocation: SDK → HTTP | posting's share: SDK, HTTP | table requests/delivery | target ≤ ${TARGET_MS} ms |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((row) => {
      const { sdk, http } = row.clients;
      const isDeliver = row.name.startsWith('deliver');
      const met =
        http.cpuMsPerDelivery <= TARGET_MS ? 'met' : `missed by ${ms(http.cpuMsPerDelivery - TARGET_MS)}`;
      return `| ${row.name} | ${row.fanOut} | ${ms(sdk.cpuMsPerDelivery)} | ${ms(http.cpuMsPerDelivery)} | ${(((http.cpuMsPerDelivery - sdk.cpuMsPerDelivery) / sdk.cpuMsPerDelivery) * 100).toFixed(0)}% | ${ms(sdk.medianCpuMsPerDelivery)} → ${ms(http.medianCpuMsPerDelivery)} | ${isDeliver ? `${share('sdk', row)}, ${share('http', row)}` : '-'} | ${isDeliver ? http.tableRequestsPerDelivery.toFixed(2) : '-'} | ${isDeliver ? met : '-'} |`;
    }),
  ];
  const header = [
    `Deliver CPU per delivered message, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    `Load average ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${machine.loadAfter.map((l) => l.toFixed(2)).join(' ')} after; local table: ${machine.engine}.`,
    `${rounds} rounds (after ${WARM_UP_ROUNDS} of warm-up), each one message per shape and ${POSTS_PER_INVOCATION} posts-only posts per client; ${CONCURRENCY} posts in flight.`,
    'CPU: the invocations’ own thread (Linux schedstat), cold starts excluded; both clients measured in turns in the same run.',
    'Posting’s share: the posts-only CPU per post over the delivery’s CPU per delivered message; the rest is table requests (SDK DynamoDB client) and per-invocation work.',
  ].join('\n');
  const targets = rows
    .filter((row) => row.name.startsWith('deliver') && row.fanOut >= 10)
    .map((row) => {
      const figure = row.clients.http.cpuMsPerDelivery;
      const verdict = figure <= TARGET_MS ? 'met' : `missed by ${ms(figure - TARGET_MS)} ms`;
      return `Target (deliver CPU ≤ ${TARGET_MS} ms per delivered message at fan-out ≥ 10), ${row.name}: ${ms(figure)} ms with the HTTP client (SDK client: ${ms(row.clients.sdk.cpuMsPerDelivery)} ms): ${verdict}.`;
    });
  const text = `${header}\n\n${lines.join('\n')}\n\n${targets.join('\n')}\n`;
  console.log(`\n${text}`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(
    'bench/results/deliver-cpu.json',
    `${JSON.stringify(
      {
        ...machineFacts(),
        loadAverage: { before: machine.loadBefore, after: machine.loadAfter },
        table: machine.engine,
        rounds,
        warmUpRounds: WARM_UP_ROUNDS,
        postsPerInvocation: POSTS_PER_INVOCATION,
        concurrency: CONCURRENCY,
        targetMsPerDelivery: TARGET_MS,
        baseline: 'sdk',
        rows,
      },
      null,
      2,
    )}\n`,
  );
  await writeFile('bench/results/deliver-cpu.svg', chart(rows, rounds));
  console.log('written to bench/results/deliver-cpu.json and deliver-cpu.svg');
}

await main();

/** CPU per delivery against fan-out: per client, one line per devices-per-user, beside posting alone and the target. */
function chart(rows: readonly Row[], rounds: number): string {
  const deliverRows = rows.filter((row) => row.shape !== undefined);
  const postsOnly = rows.find((row) => row.shape === undefined);
  const fanOuts = deliverRows.map((row) => row.fanOut);
  const xTicks = [...new Set(fanOuts)].sort((a, b) => a - b);
  const span = [Math.min(...fanOuts), Math.max(...fanOuts)] as const;
  const flat = (y: number) => span.map((x) => [x, y] as const);
  const colors: Record<ManagementClient, string> = { sdk: '#d62728', http: '#1f77b4' };
  const series: ChartSeries[] = [];
  for (const client of CLIENTS) {
    for (const devices of [...new Set(deliverRows.map((row) => row.shape?.devices ?? 0))].sort(
      (a, b) => a - b,
    )) {
      const points = deliverRows
        .filter((row) => row.shape?.devices === devices)
        .sort((a, b) => a.fanOut - b.fanOut)
        .map((row) => [row.fanOut, row.clients[client].cpuMsPerDelivery] as const);
      series.push({
        name: `${CLIENT_LABEL[client]}, ${devices} device${devices > 1 ? 's' : ''}/user`,
        points,
        color: colors[client],
        // One device per user: the per-user table work weighs most; drawn lighter to tell the lines apart.
        dashed: devices === 1,
      });
    }
  }
  if (postsOnly !== undefined)
    for (const client of CLIENTS)
      series.push({
        name: `posting alone, ${client === 'sdk' ? 'SDK' : 'HTTP'}`,
        points: flat(postsOnly.clients[client].cpuMsPerDelivery),
        color: client === 'sdk' ? '#ff9896' : '#9ecae1',
        markers: false,
      });
  series.push({
    name: `target ${TARGET_MS} ms`,
    points: flat(TARGET_MS),
    color: '#2ca02c',
    dashed: true,
    markers: false,
  });
  return lineChart({
    title: 'Deliver CPU per delivered message against fan-out',
    subtitle: `stored messages, users × devices; ${rounds} rounds, clients in turns; ${cpus().length} shared cores, node ${process.version}`,
    xLabel: 'fan-out (connections per message, log scale)',
    yLabel: 'deliver thread CPU, ms per delivery (log scale)',
    xTicks,
    series,
    logX: true,
    logY: true,
  });
}
