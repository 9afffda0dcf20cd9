/**
 * `npm run bench:fanout`: fan-out throughput and latency of the whole push path on the local stack,
 * beside a baseline measured in the same run: raw PostToConnection calls at the same concurrency
 * against the same emulator (the ceiling the delivery function could reach).
 *
 * Options (environment): BENCH_USERS (100), BENCH_DEVICES (3), BENCH_MESSAGES (40), BENCH_CONCURRENCY (32).
 * Results are printed and written to bench/results/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import WebSocket from 'ws';
import { mapBounded } from '../functions/domain/fan-out.ts';
import { startLocalStack } from '../local/stack.ts';
import { mintLocalToken } from '../local/tokens.ts';
import { Publisher } from '../publisher/index.ts';
import { intEnv } from './env.ts';

const USERS = intEnv('BENCH_USERS', 100);
const DEVICES = intEnv('BENCH_DEVICES', 3);
const MESSAGES = intEnv('BENCH_MESSAGES', 40);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 32);
const RUN_LIMIT_MS = 180_000;

interface Row {
  name: string;
  deliveries: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerDelivery?: number;
  /** DynamoDB requests the run made, per delivered message. */
  tableRequestsPerDelivery?: number;
  /** Sent all at once (throughput) rather than one round after the other (latency). */
  burst?: boolean;
}

/** One benchmark client: records the receive latency of each message frame. */
class Receiver {
  readonly latencies: number[] = [];
  constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as { kind?: string; data?: { sentAt?: number } };
      // Warm-up frames carry no sentAt but are counted (latency -1) so the run knows they arrived.
      const sentAt = frame.data?.sentAt;
      if (frame.kind === 'message')
        this.latencies.push(typeof sentAt === 'number' ? Date.now() - sentAt : -1);
    });
  }
}

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main() {
  const startedAt = Date.now();
  console.log(
    `Bench: ${USERS} users x ${DEVICES} devices = ${USERS * DEVICES} connections, ${MESSAGES} messages to all users, concurrency ${CONCURRENCY}`,
  );
  const stack = await startLocalStack({ quiet: true, console: false, deliveryConcurrency: CONCURRENCY });
  const receivers: Receiver[] = [];
  try {
    const users = Array.from({ length: USERS }, (_, i) => `bench-user-${i}`);
    await mapBounded(
      users.flatMap((user) => Array.from({ length: DEVICES }, () => user)),
      async (user) => receivers.push(await open(stack.outputs.WebSocketUrl, user)),
      16,
    );
    console.log(`connected ${receivers.length} clients in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    const perRound = USERS * DEVICES;
    const ids = stack.connectionIds();
    if (ids.length !== receivers.length) {
      throw new Error(`expected ${receivers.length} connections, the gateway holds ${ids.length}`);
    }
    const client = new ApiGatewayManagementApiClient({
      endpoint: stack.outputs.CallbackUrl,
      region: stack.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      requestHandler: new NodeHttpHandler({
        httpAgent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }),
      }),
    });
    const publisher = new Publisher({
      topicArn: stack.outputs.TopicArn,
      client: new SNSClient({
        endpoint: stack.outputs.AwsEndpointUrl,
        region: stack.outputs.Region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    });

    const tableRequests = () =>
      Object.values(stack.awsStats().dynamoRequests).reduce((sum, count) => sum + count, 0);

    // One round = one message to every connection: either raw posts (the baseline) or one publish.
    const rawRound = () =>
      mapBounded(
        ids,
        (connectionId) =>
          client.send(
            new PostToConnectionCommand({
              ConnectionId: connectionId,
              Data: JSON.stringify({ kind: 'message', data: { sentAt: Date.now() } }),
            }),
          ),
        CONCURRENCY,
      );
    const publishRound = (persist: boolean) => () =>
      publisher.publish({ to: { users }, type: 'bench', data: { sentAt: Date.now() }, persist });

    /** Sends `rounds` rounds, all at once (a burst: throughput) or each after the last arrived (latency). */
    const measure = async (name: string, round: () => Promise<unknown>, rounds: number, burst: boolean) => {
      for (const receiver of receivers) receiver.latencies.length = 0;
      const cpuBefore = stack.functionStats('deliver').cpuMs;
      const requestsBefore = tableRequests();
      const start = Date.now();
      for (let i = 1; i <= rounds; i++) {
        await round();
        if (!burst) await waitFor(() => total(receivers) >= i * perRound, `${name} round ${i}`);
      }
      await waitFor(() => total(receivers) >= rounds * perRound, `${name} frames`);
      const result = { ...row(name, receivers, start), burst };
      const cpu = stack.functionStats('deliver').cpuMs - cpuBefore;
      // Raw posts never reach the deliver function: its idle workers' ticks are not theirs to carry.
      if (round !== rawRound) {
        result.cpuMsPerDelivery = cpu / result.deliveries;
        result.tableRequestsPerDelivery = (tableRequests() - requestsBefore) / result.deliveries;
      }
      await stack.idle(30_000);
      return result;
    };

    // Warm-up, not measured: cold starts of the deliver function and the first table writes.
    await measure('warm-up', publishRound(true), 1, false);
    await measure('warm-up', publishRound(false), 1, false);
    await measure('warm-up', rawRound, 1, false);

    // Context, after the warm-up: how many writes per second the local DynamoDB takes at the same table concurrency.
    const dynamo = new DynamoDBClient({
      endpoint: stack.outputs.AwsEndpointUrl,
      region: stack.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const writesStart = Date.now();
    const WRITES = 1000;
    await mapBounded(
      Array.from({ length: WRITES }, (_, i) => i),
      (i) =>
        dynamo.send(
          new PutItemCommand({
            TableName: stack.outputs.TableName,
            Item: { pk: { S: `bench#${i}` }, sk: { S: 'probe' }, expiresAt: { N: '0' } },
          }),
        ),
      16,
    );
    const writesPerSecond = WRITES / ((Date.now() - writesStart) / 1000);
    console.log(
      `local DynamoDB (${stack.outputs.DynamoDbEngine}): ${writesPerSecond.toFixed(0)} writes/s at 16 in flight`,
    );

    const latencyRounds = Math.min(10, MESSAGES);
    const rows: Row[] = [
      await measure(`baseline: raw PostToConnection, ${MESSAGES} rounds at once`, rawRound, MESSAGES, true),
      await measure(
        `Pushline push only (persist: false), ${MESSAGES} at once`,
        publishRound(false),
        MESSAGES,
        true,
      ),
      await measure(
        `Pushline stored (inbox + push), ${MESSAGES} at once`,
        publishRound(true),
        MESSAGES,
        true,
      ),
      await measure(`baseline: raw PostToConnection, one round at a time`, rawRound, latencyRounds, false),
      await measure(`Pushline stored, one message at a time`, publishRound(true), latencyRounds, false),
    ];
    await report(rows, { engine: stack.outputs.DynamoDbEngine, writesPerSecond });
  } finally {
    for (const receiver of receivers) receiver.socket.terminate();
    await stack.stop();
  }
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

function total(receivers: Receiver[]): number {
  return receivers.reduce((sum, receiver) => sum + receiver.latencies.length, 0);
}

function row(name: string, receivers: Receiver[], start: number): Row {
  const latencies = receivers
    .flatMap((receiver) => receiver.latencies)
    .filter((latency) => latency >= 0)
    .sort((a, b) => a - b);
  const seconds = (Date.now() - start) / 1000;
  const pick = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    name,
    deliveries: latencies.length,
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
  };
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + RUN_LIMIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${RUN_LIMIT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function report(rows: Row[], table: { engine: string; writesPerSecond: number }) {
  // Each row is compared with the baseline row sent the same way (burst or one at a time).
  const baselineOf = (r: Row) => rows.find((candidate) => candidate.burst === r.burst) ?? r;
  const lines = [
    `| run | deliveries | seconds | deliveries/s | vs baseline | p50 ms | p99 ms | deliver CPU ms/delivery | table requests/delivery |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.deliveries} | ${r.seconds.toFixed(2)} | ${r.perSecond.toFixed(0)} | ${((r.perSecond / baselineOf(r).perSecond) * 100).toFixed(0)}% | ${r.p50Ms} | ${r.p99Ms} | ${r.cpuMsPerDelivery === undefined ? '-' : r.cpuMsPerDelivery.toFixed(3)} | ${r.tableRequestsPerDelivery === undefined ? '-' : r.tableRequestsPerDelivery.toFixed(2)} |`,
    ),
  ];
  const header = `Pushline fan-out benchmark, ${new Date().toISOString()}, node ${process.version}\n${USERS} users x ${DEVICES} devices, ${MESSAGES} messages, concurrency ${CONCURRENCY}\n"deliver CPU" is the CPU time the deliver function's invocations used on their threads (Linux schedstat).\nBaselines post the same frames straight to the same emulator's @connections at the same concurrency.\nLocal table: ${table.engine}, ${table.writesPerSecond.toFixed(0)} writes/s at 16 in flight, measured in this run (it bounds the stored runs).\n`;
  const text = `${header}\n${lines.join('\n')}\n`;
  console.log(`\n${text}`);
  await mkdir('bench/results', { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  await writeFile(`bench/results/fanout-${stamp}.md`, text);
  await writeFile(
    `bench/results/fanout-${stamp}.json`,
    `${JSON.stringify({ users: USERS, devices: DEVICES, messages: MESSAGES, concurrency: CONCURRENCY, table, rows }, null, 2)}\n`,
  );
  console.log(`written to bench/results/fanout-${stamp}.md and .json`);
}

await main();
