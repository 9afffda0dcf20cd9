/**
 * `npm run bench:costmodel`: what a million deliveries cost on AWS, from the requests the local
 * stack counts while it delivers (issue 10, "cost model"). Goal: at most 5 % above API Gateway's
 * $1.00 per million messages floor at fan-out ≥ 10 for push-only messages; the stored path's extra
 * per user stated.
 *
 * Workloads, each push-only (persist: false) and stored (persist: true), one message per publish
 * call (a service publishing its events as they happen):
 * - unicast: 1 user × 1 device, a real WebSocket client;
 * - fan-out 10: one message addressed to 10 users × 1 device, real clients;
 * - topic 200 and topic 1,000: a topic with that many subscribers, simulated connections
 *   (docs/local-runtime.md, "Simulated connections") with the rows `$connect` and `subscribe` write;
 * - broadcast 1,000: `to: { all: true }` reaching 1,000 simulated connections.
 * The counters of the local runtime (docs/local-runtime.md, "Counters") are read before the first
 * publish and after the stack is idle again, so connecting, subscribing and seeding rows are not
 * in the figures: only what delivering costs. Deliveries are the gateway's accepted posts; every
 * expected post is checked to have arrived exactly once.
 *
 * Options (environment): BENCH_COST_UNICAST (100 messages per mode), BENCH_COST_FANOUT (50),
 * BENCH_COST_TOPIC (5 messages per topic and mode), BENCH_COST_BROADCAST (5),
 * BENCH_COST_LIMIT_S (120: the wait for one workload's posts). PUSHLINE_DYNAMO picks the engine.
 * Progress on stderr; the table on stdout and in bench/results/cost.json; bench/results/cost.svg.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SNSClient } from '@aws-sdk/client-sns';
import WebSocket from 'ws';
import { mapBounded } from '../functions/domain/fan-out.ts';
import { DEFAULT_CONNECTION_TTL_SECONDS } from '../functions/shared/table-schema.ts';
import { MAX_TOPICS_PER_CONNECTION } from '../functions/shared/topics.ts';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import { mintLocalToken } from '../local/tokens.ts';
import { Publisher } from '../publisher/index.ts';
import { intEnv, machineFacts } from './env.ts';
import { barChart } from './plot.ts';

/**
 * Published prices, us-east-1, on-demand, in USD, free tiers left out. The pages named are the
 * sources; they were checked in December 2026 through the project's search of stored pages, which
 * holds copies of some of them and third-party restatements of others (noted where so):
 * - API Gateway WebSocket APIs, https://aws.amazon.com/api-gateway/pricing/ : $1.00 per million
 *   messages (first billion a month; metered in 32 KB increments, both directions) and $0.25 per
 *   million connection minutes.
 * - AWS Lambda, https://aws.amazon.com/lambda/pricing/ : arm64 $0.0000133334 per GB-second (first
 *   7.5 billion GB-s a month), $0.20 per million requests. The INIT phase of a cold start is billed
 *   since August 2025 (AWS Compute Blog, "AWS Lambda standardizes billing for INIT Phase"); the
 *   figures here are measured warm.
 * - Amazon SNS, https://aws.amazon.com/sns/pricing/ : standard topics $0.50 per million requests,
 *   each 64 KB chunk of a request's payload one request; deliveries to Lambda cost nothing. That a
 *   PublishBatch is billed on its total payload is inferred from the SNS guide's "Amazon SNS message
 *   batching" page ("reduce costs … by a factor of up to 10"), not quoted (docs/local-runtime.md).
 * - Amazon DynamoDB on-demand, https://aws.amazon.com/dynamodb/pricing/on-demand/ : $0.625 per
 *   million write request units, $0.125 per million read request units, the prices since the
 *   November 2024 cut, used here; pages written before it say $1.25 and $0.25.
 * - AWS AppSync Events, https://aws.amazon.com/appsync/pricing/ : $1.00 per million Event API
 *   operations (AWS's price list); that a publish is one operation and each message delivered to a
 *   subscriber one is from third-party restatements ("published + delivered operations"). $0.08 per
 *   million connection minutes is the AppSync pricing page's figure for real-time connections.
 */
const PRICE = {
  apiGatewayMessage: 1.0 / 1e6,
  apiGatewayConnectionMinute: 0.25 / 1e6,
  lambdaGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  snsRequest: 0.5 / 1e6,
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  appSyncOperation: 1.0 / 1e6,
  appSyncConnectionMinute: 0.08 / 1e6,
} as const;
/** API Gateway's floor: one billed message per delivery. */
const FLOOR_PER_MILLION = 1.0;
/** The goal: at most this far above the floor, push-only, fan-out ≥ 10. */
const GOAL_ABOVE_FLOOR = 0.05;
/** Minutes in an average month (365 × 24 × 60 / 12), for the price of a device connected all month. */
const MINUTES_PER_MONTH = 43_800;

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(HERE, 'results');
const UNICAST = intEnv('BENCH_COST_UNICAST', 100, 10_000);
const FANOUT = intEnv('BENCH_COST_FANOUT', 50, 10_000);
const TOPIC = intEnv('BENCH_COST_TOPIC', 5, 1_000);
const BROADCAST = intEnv('BENCH_COST_BROADCAST', 5, 1_000);
const LIMIT_MS = intEnv('BENCH_COST_LIMIT_S', 120, 600) * 1000;
const SIMULATED = 1_000;
const FANOUT_USERS = 10;
/** A 128-byte body, as in the issue's peer workload. */
const DATA = { text: 'x'.repeat(128 - '{"text":""}'.length) };

type Mode = 'push' | 'stored';
const MODES: readonly Mode[] = ['push', 'stored'];

/** Counter values at one moment: the sums of every function's and service's counters. */
interface Counters {
  readonly posts: number;
  readonly billedPosts: number;
  /** Billed messages clients sent (one per started 32 KB); none are expected while the counters run. */
  readonly clientMessages: number;
  readonly snsRequests: number;
  readonly snsBilled: number;
  readonly lambdaRequests: number;
  readonly gbSeconds: number;
  readonly billedDurationMs: number;
  readonly readUnits: number;
  readonly writeUnits: number;
  /** Failed conditional writes: AWS bills them (at least one unit each), the engine reports none. */
  readonly failedConditionalWrites: number;
  readonly byFunction: Record<string, { invocations: number; billedDurationMs: number; gbSeconds: number }>;
  readonly unitsByOperation: Record<string, number>;
}

interface Workload {
  readonly name: string;
  readonly label: string;
  readonly audience: number;
  readonly messages: number;
  /** Fan-out of one publish: the goal applies at ≥ 10. */
  readonly fanout: number;
}

interface Row {
  readonly workload: string;
  readonly label: string;
  readonly mode: Mode;
  readonly messages: number;
  readonly expectedDeliveries: number;
  readonly deliveries: number;
  readonly missed: number;
  readonly duplicates: number;
  readonly counts: Omit<Counters, 'byFunction' | 'unitsByOperation'> & {
    readonly byFunction: Counters['byFunction'];
    readonly unitsByOperation: Counters['unitsByOperation'];
  };
  /** $ per million deliveries, by component, and their total. */
  readonly perMillion: {
    readonly apiGateway: number;
    readonly sns: number;
    readonly lambdaRequests: number;
    readonly lambdaDuration: number;
    readonly dynamoWrites: number;
    readonly dynamoReads: number;
    readonly total: number;
  };
  readonly aboveFloorPercent: number;
  /** AppSync Events for the same workload: one publish plus one operation per delivery. */
  readonly appSyncPerMillion: number;
  /** Per delivered message: units and requests. */
  readonly perDelivery: {
    readonly writeUnits: number;
    readonly readUnits: number;
    readonly lambdaRequests: number;
    readonly snsBilled: number;
    readonly lambdaMs: number;
  };
}

const startedAt = Date.now();
const progress = (line: string) =>
  process.stderr.write(`[bench:costmodel ${((Date.now() - startedAt) / 1000).toFixed(0)} s] ${line}\n`);
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function read(stack: LocalStack): Counters {
  const gateway = stack.gatewayStats();
  const aws = stack.awsStats();
  const byFunction: Counters['byFunction'] = {};
  let lambdaRequests = 0;
  let gbSeconds = 0;
  let billedDurationMs = 0;
  for (const fn of stack.topology.functions) {
    const stats = stack.functionStats(fn.name);
    byFunction[fn.name] = {
      invocations: stats.invocations,
      billedDurationMs: stats.billedDurationMs,
      gbSeconds: stats.gbSeconds,
    };
    lambdaRequests += stats.invocations;
    gbSeconds += stats.gbSeconds;
    billedDurationMs += stats.billedDurationMs;
  }
  let failedConditionalWrites = 0;
  for (const [key, count] of Object.entries(aws.dynamoCapacity.failedRequests))
    if (key.endsWith('ConditionalCheckFailedException') || key.endsWith('TransactionCanceledException'))
      failedConditionalWrites += count;
  return {
    posts: gateway.posts,
    billedPosts: gateway.billedPosts,
    clientMessages: gateway.billedClientMessages,
    snsRequests: aws.snsRequests.publish + aws.snsRequests.publishBatch,
    snsBilled: aws.snsRequests.billed,
    lambdaRequests,
    gbSeconds,
    billedDurationMs,
    readUnits: aws.dynamoCapacity.readUnits,
    writeUnits: aws.dynamoCapacity.writeUnits,
    failedConditionalWrites,
    byFunction,
    unitsByOperation: { ...aws.dynamoCapacity.unitsByOperation },
  };
}

function difference(after: Counters, before: Counters): Row['counts'] {
  const byFunction: Counters['byFunction'] = {};
  for (const [name, a] of Object.entries(after.byFunction)) {
    const b = before.byFunction[name] ?? { invocations: 0, billedDurationMs: 0, gbSeconds: 0 };
    if (a.invocations === b.invocations) continue;
    byFunction[name] = {
      invocations: a.invocations - b.invocations,
      billedDurationMs: a.billedDurationMs - b.billedDurationMs,
      gbSeconds: a.gbSeconds - b.gbSeconds,
    };
  }
  const unitsByOperation: Record<string, number> = {};
  for (const [operation, units] of Object.entries(after.unitsByOperation)) {
    const delta = units - (before.unitsByOperation[operation] ?? 0);
    if (delta !== 0) unitsByOperation[operation] = delta;
  }
  return {
    posts: after.posts - before.posts,
    billedPosts: after.billedPosts - before.billedPosts,
    clientMessages: after.clientMessages - before.clientMessages,
    snsRequests: after.snsRequests - before.snsRequests,
    snsBilled: after.snsBilled - before.snsBilled,
    lambdaRequests: after.lambdaRequests - before.lambdaRequests,
    gbSeconds: after.gbSeconds - before.gbSeconds,
    billedDurationMs: after.billedDurationMs - before.billedDurationMs,
    readUnits: after.readUnits - before.readUnits,
    writeUnits: after.writeUnits - before.writeUnits,
    failedConditionalWrites: after.failedConditionalWrites - before.failedConditionalWrites,
    byFunction,
    unitsByOperation,
  };
}

function price(workload: Workload, mode: Mode, counts: Row['counts'], check: Check): Row {
  const deliveries = Math.max(counts.posts, 1);
  const perMillion = (dollars: number) => (dollars / deliveries) * 1e6;
  const components = {
    apiGateway: perMillion((counts.billedPosts + counts.clientMessages) * PRICE.apiGatewayMessage),
    sns: perMillion(counts.snsBilled * PRICE.snsRequest),
    lambdaRequests: perMillion(counts.lambdaRequests * PRICE.lambdaRequest),
    lambdaDuration: perMillion(counts.gbSeconds * PRICE.lambdaGbSecond),
    dynamoWrites: perMillion((counts.writeUnits + counts.failedConditionalWrites) * PRICE.dynamoWriteUnit),
    dynamoReads: perMillion(counts.readUnits * PRICE.dynamoReadUnit),
  };
  const total = Object.values(components).reduce((sum, value) => sum + value, 0);
  return {
    workload: workload.name,
    label: workload.label,
    mode,
    messages: workload.messages,
    expectedDeliveries: workload.messages * workload.audience,
    deliveries: counts.posts,
    missed: check.missed,
    duplicates: check.duplicates,
    counts,
    perMillion: { ...components, total },
    aboveFloorPercent: (total / FLOOR_PER_MILLION - 1) * 100,
    appSyncPerMillion: perMillion((workload.messages + counts.posts) * PRICE.appSyncOperation),
    perDelivery: {
      writeUnits: (counts.writeUnits + counts.failedConditionalWrites) / deliveries,
      readUnits: counts.readUnits / deliveries,
      lambdaRequests: counts.lambdaRequests / deliveries,
      snsBilled: counts.snsBilled / deliveries,
      lambdaMs: counts.billedDurationMs / deliveries,
    },
  };
}

interface Check {
  readonly missed: number;
  readonly duplicates: number;
}

/** A real client that counts the message frames it receives, by message id. */
class Client {
  readonly received = new Map<string, number>();
  constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as { kind?: string; id?: unknown };
      if (frame.kind === 'message' && typeof frame.id === 'string')
        this.received.set(frame.id, (this.received.get(frame.id) ?? 0) + 1);
    });
  }
}

async function connect(url: string, user: string): Promise<Client> {
  const socket = new WebSocket(`${url}?token=${await mintLocalToken(user)}`);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return new Client(socket);
}

/** Waits until the gateway accepted `expected` more posts than `before`, then until the stack is idle. */
async function settle(stack: LocalStack, before: number, expected: number): Promise<void> {
  const start = Date.now();
  let lastReport = start;
  while (stack.gatewayStats().posts - before < expected && Date.now() - start < LIMIT_MS) {
    if (Date.now() - lastReport > 5_000) {
      progress(`    ${stack.gatewayStats().posts - before} of ${expected} posts`);
      lastReport = Date.now();
    }
    await delay(50);
  }
  // Late work (retries, handed-on parts, duplicates) is counted too: wait until nothing is pending.
  await stack.idle(LIMIT_MS).catch((error: unknown) => progress(`    not idle: ${(error as Error).message}`));
}

/** Writes the rows `$connect` writes for each simulated connection (connection and broadcast rows). */
async function seedConnections(stack: LocalStack, ids: readonly string[]): Promise<void> {
  const { connectionRows } = await import('../functions/adapters/connection-store.ts');
  const { dynamo } = await import('../functions/adapters/dynamo-client.ts');
  const { BatchWriteCommand } = await import('@aws-sdk/lib-dynamodb');
  const tableName = stack.outputs.TableName;
  const now = Date.now();
  const rows = ids.flatMap((connectionId, i) =>
    connectionRows({
      userId: `cost-user-${i}`,
      connectionId,
      connectedAt: now,
      sourceIp: '127.0.0.1',
      userAgent: 'bench/cost',
      expiresAt: Math.floor(now / 1000) + DEFAULT_CONNECTION_TTL_SECONDS,
    }),
  );
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < rows.length; i += 25) batches.push(rows.slice(i, i + 25));
  await mapBounded(
    batches,
    async (batch) => {
      let pending = batch.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > 8) throw new Error(`${pending.length} rows unprocessed after 8 attempts`);
        const output = await dynamo.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
        pending = (output.UnprocessedItems?.[tableName] ?? []) as typeof pending;
        if (pending.length > 0) await delay(20 * attempt);
      }
    },
    4,
  );
}

/** Subscribes the connections to a topic, as the message function's `subscribe` does. */
async function subscribe(stack: LocalStack, topic: string, ids: readonly string[]): Promise<void> {
  const { createAudienceStore } = await import('../functions/adapters/audience-store.ts');
  const store = createAudienceStore(stack.outputs.TableName);
  const now = Date.now();
  await mapBounded(
    ids.map((connectionId, i) => ({ connectionId, i })),
    async ({ connectionId, i }) => {
      const outcome = await store.subscribe(
        {
          topic,
          connectionId,
          userId: `cost-user-${i}`,
          connectedAt: now,
          expiresAt: Math.floor(now / 1000) + DEFAULT_CONNECTION_TTL_SECONDS,
        },
        MAX_TOPICS_PER_CONNECTION,
      );
      if (outcome !== 'subscribed') throw new Error(`subscribing ${connectionId} to ${topic}: ${outcome}`);
    },
    8,
  );
}

/** Posts each simulated id received since `before` (counts per id), against what was expected. */
function simulatedCheck(
  stack: LocalStack,
  before: Readonly<Record<string, number>>,
  ids: readonly string[],
  messages: number,
): Check {
  const counts = stack.simulatedConnections.stats(true).counts ?? {};
  let missed = 0;
  let duplicates = 0;
  for (const id of ids) {
    const got = (counts[id] ?? 0) - (before[id] ?? 0);
    if (got < messages) missed += messages - got;
    if (got > messages) duplicates += got - messages;
  }
  return { missed, duplicates };
}

function clientCheck(clients: readonly Client[], ids: readonly string[]): Check {
  let missed = 0;
  let duplicates = 0;
  for (const client of clients) {
    for (const id of ids) {
      const got = client.received.get(id) ?? 0;
      if (got === 0) missed++;
      if (got > 1) duplicates += got - 1;
    }
  }
  return { missed, duplicates };
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  progress(
    `unicast ${UNICAST}, fan-out 10 ${FANOUT}, topics ${TOPIC}, broadcast ${BROADCAST} messages per mode; starting the local stack`,
  );
  const stack = await startLocalStack({ quiet: true, console: false });
  const clients: Client[] = [];
  const rows: Row[] = [];
  try {
    // The project's stores read the SDK's standard variables, as in a function.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: stack.outputs.AwsEndpointUrl,
      AWS_REGION: stack.outputs.Region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
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
    const publish = async (to: Parameters<Publisher['publish']>[0]['to'], mode: Mode, count: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const id = `cost-${++sequence}`;
        ids.push(id);
        await publisher.publish({ id, to, type: 'bench.cost', data: DATA, persist: mode === 'stored' });
      }
      return ids;
    };

    // Simulated audiences first: the broadcast must reach exactly these 1,000 connections, so the
    // real clients connect only after it.
    const simulated = stack.simulatedConnections.create(SIMULATED);
    progress(`stack up (${stack.outputs.DynamoDbEngine}); seeding ${SIMULATED} simulated connections`);
    await seedConnections(stack, simulated);
    const topics = [
      { name: 'topic200', topic: 'cost.topic200', audience: 200 },
      { name: 'topic1000', topic: 'cost.topic1000', audience: SIMULATED },
    ];
    for (const t of topics) await subscribe(stack, t.topic, simulated.slice(0, t.audience));
    progress('subscriptions written');

    const simulatedRun = async (
      workload: Workload,
      to: Parameters<typeof publish>[0],
      ids: readonly string[],
    ) => {
      for (const mode of MODES) {
        const countsBefore = { ...(stack.simulatedConnections.stats(true).counts ?? {}) };
        const before = read(stack);
        progress(`${workload.label}, ${mode}: ${workload.messages} messages to ${workload.audience}`);
        await publish(to, mode, workload.messages);
        await settle(stack, before.posts, workload.messages * workload.audience);
        const counts = difference(read(stack), before);
        const row = price(
          workload,
          mode,
          counts,
          simulatedCheck(stack, countsBefore, ids, workload.messages),
        );
        progress(`    ${row.deliveries} deliveries, $${row.perMillion.total.toFixed(3)} per million`);
        rows.push(row);
      }
    };

    // One warm-up message per path, so that cold starts are not in the figures.
    progress('warm-up: one topic message and one broadcast');
    const warmBefore = stack.gatewayStats().posts;
    await publish({ topic: 'cost.topic200' }, 'push', 1);
    await publish({ all: true }, 'push', 1);
    await settle(stack, warmBefore, 200 + SIMULATED);

    for (const t of topics) {
      await simulatedRun(
        {
          name: t.name,
          label: `topic, ${t.audience.toLocaleString('en-US')} subscribers`,
          audience: t.audience,
          messages: TOPIC,
          fanout: t.audience,
        },
        { topic: t.topic },
        simulated.slice(0, t.audience),
      );
    }
    await simulatedRun(
      {
        name: 'broadcast1000',
        label: `broadcast, ${SIMULATED.toLocaleString('en-US')} connections`,
        audience: SIMULATED,
        messages: BROADCAST,
        fanout: SIMULATED,
      },
      { all: true },
      simulated,
    );

    // Real clients: 1 for unicast, 10 for fan-out 10.
    progress('connecting 11 real clients');
    const unicastClient = await connect(stack.outputs.WebSocketUrl, 'cost-unicast');
    clients.push(unicastClient);
    const fanoutUsers = Array.from({ length: FANOUT_USERS }, (_, i) => `cost-fanout-${i}`);
    for (const user of fanoutUsers) clients.push(await connect(stack.outputs.WebSocketUrl, user));
    const fanoutClients = clients.slice(1);
    const realRun = async (workload: Workload, users: readonly string[], audience: readonly Client[]) => {
      for (const mode of MODES) {
        // Warm-up of this path (the deliver function's first stored or push message to these users).
        const warm = stack.gatewayStats().posts;
        await publish({ users: [...users] }, mode, 1);
        await settle(stack, warm, users.length);
        const before = read(stack);
        progress(`${workload.label}, ${mode}: ${workload.messages} messages`);
        const ids = await publish({ users: [...users] }, mode, workload.messages);
        await settle(stack, before.posts, workload.messages * workload.audience);
        const counts = difference(read(stack), before);
        const row = price(workload, mode, counts, clientCheck(audience, ids));
        progress(`    ${row.deliveries} deliveries, $${row.perMillion.total.toFixed(3)} per million`);
        rows.push(row);
      }
    };
    await realRun(
      { name: 'unicast', label: 'unicast, 1 user × 1 device', audience: 1, messages: UNICAST, fanout: 1 },
      ['cost-unicast'],
      [unicastClient],
    );
    await realRun(
      {
        name: 'fanout10',
        label: 'fan-out 10, 10 users × 1 device',
        audience: FANOUT_USERS,
        messages: FANOUT,
        fanout: FANOUT_USERS,
      },
      fanoutUsers,
      fanoutClients,
    );
    const connectionMinutes = stack.gatewayStats().connectionMinutes;
    await report(rows, {
      engine: stack.outputs.DynamoDbEngine,
      loadBefore,
      loadAfter: loadavg(),
      memorySizeMb: Object.fromEntries(
        stack.topology.functions.map((fn) => [fn.name, stack.functionStats(fn.name).memorySizeMb]),
      ),
      connectionMinutes,
    });
  } finally {
    for (const client of clients) client.socket.terminate();
    await stack.stop();
  }
}

/** `+1.25`, `−0.01`: a difference with its sign, `unit` after the sign. */
function signed(value: number, digits: number, unit = ''): string {
  const text = Math.abs(value).toFixed(digits);
  return `${value < 0 && Number(text) !== 0 ? '−' : '+'}${unit}${text}`;
}

const ORDER = ['unicast', 'fanout10', 'topic200', 'topic1000', 'broadcast1000'];
/** The workloads' names under the chart's bars. */
const SHORT: Record<string, string> = {
  unicast: 'unicast',
  fanout10: 'fan-out 10',
  topic200: 'topic, 200',
  topic1000: 'topic, 1,000',
  broadcast1000: 'broadcast, 1,000',
};

async function report(
  rows: Row[],
  run: {
    engine: string;
    loadBefore: number[];
    loadAfter: number[];
    memorySizeMb: Record<string, number>;
    connectionMinutes: number;
  },
): Promise<void> {
  rows.sort(
    (a, b) =>
      ORDER.indexOf(a.workload) - ORDER.indexOf(b.workload) || MODES.indexOf(a.mode) - MODES.indexOf(b.mode),
  );
  const $ = (value: number) => value.toFixed(3);
  const lines = [
    '| workload | mode | deliveries | API Gateway | SNS | Lambda requests | Lambda GB-s | table writes | table reads | total $/M | above $1.00 floor | AppSync Events $/M |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.mode === 'push' ? 'push-only' : 'stored'} | ${r.deliveries}${r.missed + r.duplicates > 0 ? ` (${r.missed} missed, ${r.duplicates} twice)` : ''} | ${$(r.perMillion.apiGateway)} | ${$(r.perMillion.sns)} | ${$(r.perMillion.lambdaRequests)} | ${$(r.perMillion.lambdaDuration)} | ${$(r.perMillion.dynamoWrites)} | ${$(r.perMillion.dynamoReads)} | **${$(r.perMillion.total)}** | ${r.aboveFloorPercent.toFixed(1)} % | ${$(r.appSyncPerMillion)} |`,
    ),
  ];
  const units = [
    '| workload | mode | WRU per delivery | RRU per delivery | Lambda requests per delivery | billed Lambda ms per delivery | billed SNS requests per delivery |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.mode} | ${r.perDelivery.writeUnits.toFixed(3)} | ${r.perDelivery.readUnits.toFixed(3)} | ${r.perDelivery.lambdaRequests.toFixed(4)} | ${r.perDelivery.lambdaMs.toFixed(2)} | ${r.perDelivery.snsBilled.toFixed(4)} |`,
    ),
  ];
  const storedExtra = ORDER.flatMap((name) => {
    const push = rows.find((r) => r.workload === name && r.mode === 'push');
    const stored = rows.find((r) => r.workload === name && r.mode === 'stored');
    if (push === undefined || stored === undefined) return [];
    const writeUnitsPerUser = stored.perDelivery.writeUnits - push.perDelivery.writeUnits;
    const readUnitsPerUser = stored.perDelivery.readUnits - push.perDelivery.readUnits;
    return [
      {
        workload: name,
        label: push.label,
        writeUnitsPerUser,
        readUnitsPerUser,
        // The table units are what storing adds; Lambda duration differs between runs by noise.
        tablePerMillion:
          (writeUnitsPerUser * PRICE.dynamoWriteUnit + readUnitsPerUser * PRICE.dynamoReadUnit) * 1e6,
        measuredPerMillion: stored.perMillion.total - push.perMillion.total,
      },
    ];
  });
  const goalRows = rows.filter(
    (r) => r.mode === 'push' && ['fanout10', 'topic200', 'topic1000', 'broadcast1000'].includes(r.workload),
  );
  const limit = FLOOR_PER_MILLION * (1 + GOAL_ABOVE_FLOOR);
  const goals = goalRows.map((r) => {
    const met = r.perMillion.total <= limit && r.missed === 0 && r.duplicates === 0;
    const heaviest = Object.entries(r.perMillion)
      .filter(([key]) => key !== 'total' && key !== 'apiGateway')
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2)
      .map(([key, value]) => `${key} $${$(value)}`)
      .join(', ');
    return `Goal: push-only ${r.label} ≤ $${limit.toFixed(2)} per million deliveries (5 % above the floor): ${met ? 'met' : `missed by $${$(r.perMillion.total - limit)}`} ($${$(r.perMillion.total)}, ${r.aboveFloorPercent.toFixed(1)} % above; beyond the posts, most from ${heaviest})`;
  });
  const connectionMinuteLines = [
    `Connection minutes are billed by time connected, not per delivery: a device connected all month (${MINUTES_PER_MONTH.toLocaleString('en-US')} minutes) costs $${(MINUTES_PER_MONTH * PRICE.apiGatewayConnectionMinute).toFixed(4)} on API Gateway, $${(MINUTES_PER_MONTH * PRICE.appSyncConnectionMinute).toFixed(4)} on AppSync Events; this run's real clients held ${run.connectionMinutes.toFixed(1)} connection minutes.`,
  ];
  const text = [
    `Cost per million deliveries at AWS's published prices (us-east-1, on-demand), from the local stack's counters, ${new Date().toISOString()}, node ${process.version}; table: ${run.engine}; Lambda memory ${[...new Set(Object.values(run.memorySizeMb))].join('/')} MB, arm64 prices.`,
    `Load average ${run.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${run.loadAfter.map((l) => l.toFixed(2)).join(' ')} after. One message per publish call; counters read after warm-up, connecting and subscribing. Lambda duration is measured on this shared 2-core machine (an upper bound for AWS's).`,
    '',
    ...lines,
    '',
    ...units,
    '',
    'The stored path (persist: true) beyond push-only, per delivered user:',
    ...storedExtra.map(
      (s) =>
        `- ${s.label}: ${signed(s.writeUnitsPerUser, 2)} WRU and ${signed(s.readUnitsPerUser, 2)} RRU per user, ${signed(s.tablePerMillion, 3, '$')} per million deliveries (the whole totals differ by ${signed(s.measuredPerMillion, 3, '$')}, Lambda duration included)`,
    ),
    '',
    ...connectionMinuteLines,
    '',
    ...goals,
  ].join('\n');
  console.log(`\n${text}\n`);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(
    join(RESULTS_DIR, 'cost.json'),
    `${JSON.stringify(
      {
        ...machineFacts(),
        loadAverage: { before: run.loadBefore, after: run.loadAfter },
        table: run.engine,
        prices: PRICE,
        floorPerMillion: FLOOR_PER_MILLION,
        goalAboveFloor: GOAL_ABOVE_FLOOR,
        memorySizeMb: run.memorySizeMb,
        connectionMinutes: {
          run: run.connectionMinutes,
          apiGatewayPerDeviceMonth: MINUTES_PER_MONTH * PRICE.apiGatewayConnectionMinute,
          appSyncPerDeviceMonth: MINUTES_PER_MONTH * PRICE.appSyncConnectionMinute,
        },
        rows,
        storedExtra,
        goals,
      },
      null,
      2,
    )}\n`,
  );
  await writeFile(
    join(RESULTS_DIR, 'cost.svg'),
    barChart({
      title: `$ per million deliveries at AWS prices, from the local stack’s counts (goal ≤ $${limit.toFixed(2)} at fan-out ≥ 10)`,
      unit: '$ per million deliveries',
      groups: ORDER.flatMap((name) => {
        const push = rows.find((r) => r.workload === name && r.mode === 'push');
        const stored = rows.find((r) => r.workload === name && r.mode === 'stored');
        if (push === undefined) return [];
        return [
          {
            label: SHORT[name] ?? name,
            bars: [
              { series: 'Pushline push-only', value: push.perMillion.total },
              ...(stored ? [{ series: 'Pushline stored', value: stored.perMillion.total }] : []),
              { series: 'AppSync Events', value: push.appSyncPerMillion },
            ],
          },
        ];
      }),
      // The goal's line would sit on the floor's at this scale: the title states it instead.
      lines: [{ label: 'API Gateway floor, $ per million', value: FLOOR_PER_MILLION }],
    }),
  );
  console.log('written to bench/results/cost.json and cost.svg');
}

await main();
process.exit(0);
