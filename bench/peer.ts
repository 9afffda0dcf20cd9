/**
 * `npm run bench:peer`: Pushline beside the seeds' design on the same machine and workload.
 *
 * The peer is Socket.IO 4 with `@socket.io/redis-adapter` (Debian's `redis-server`) at 1, 2 and 4
 * nodes: every node subscribes to every message, and pushes to the sockets it holds. Pushline is the
 * local stack (`npm start`'s), with real WebSocket connections through its gateway emulator.
 *
 * Workload, the same for both: USERS users × DEVICES devices (500 × 2 = 1,000 connections), bodies of
 * 128 bytes, sent from this process at a fixed rate:
 * - unicast: each message to one user (so to both of its devices), RATE messages per second;
 * - broadcast: each message to every connection (the audience grows from 2 to 1,000).
 * Measured per run: deliveries (counted exactly: each message's receipts per connection), server CPU
 * per delivery (Socket.IO: the nodes' process CPU, and Redis's beside it; Pushline: the thread CPU of
 * the deliver and fan-out functions' invocations, as `npm run bench` measures it), and publish →
 * receive latency at the clients (one monotonic clock, this process's).
 *
 * Options (environment): BENCH_PEER_USERS (500), BENCH_PEER_DEVICES (2), BENCH_PEER_RATE (unicast
 * messages/s, 20), BENCH_PEER_SECONDS (unicast seconds, 15), BENCH_PEER_BROADCASTS (4),
 * BENCH_PEER_BROADCAST_INTERVAL_MS (5000), BENCH_PEER_NODES (1,2,4), BENCH_PEER_SYSTEMS
 * (socketio,pushline), BENCH_PEER_IDLE_MS (idle window after the warm-up, 4000),
 * BENCH_PEER_FAST_RATE (the peer's own pace, 500 msg/s), BENCH_PEER_FAST_SECONDS (5), BENCH_PEER_LIMIT_S
 * (the whole run, 600). Every child process and redis-server is stopped on the way out, also on an
 * error, Ctrl-C or the limit (a SIGKILL of this process leaves redis-server to be stopped by hand;
 * the nodes exit when their IPC channel closes). Progress goes to stderr; the table to stdout; results to
 * bench/results/peer.json and bench/results/peer.svg.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SNSClient } from '@aws-sdk/client-sns';
import { Emitter } from '@socket.io/redis-emitter';
import { createClient } from 'redis';
import { io as connectSocketIo, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { mapBounded } from '../functions/domain/fan-out.ts';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import { mintLocalToken } from '../local/tokens.ts';
import { Publisher } from '../publisher/index.ts';
import { intEnv } from './env.ts';
import type { NodeCommand, NodeReport } from './peer-node.ts';
import { type ChartSeries, lineChart } from './svg-chart.ts';

const USERS = intEnv('BENCH_PEER_USERS', 500);
const DEVICES = intEnv('BENCH_PEER_DEVICES', 2);
const RATE = intEnv('BENCH_PEER_RATE', 20);
const UNICAST_SECONDS = intEnv('BENCH_PEER_SECONDS', 15);
const BROADCASTS = intEnv('BENCH_PEER_BROADCASTS', 4);
const BROADCAST_INTERVAL_MS = intEnv('BENCH_PEER_BROADCAST_INTERVAL_MS', 5_000);
const NODE_COUNTS = listEnv('BENCH_PEER_NODES', '1,2,4').map(Number);
const SYSTEMS = listEnv('BENCH_PEER_SYSTEMS', 'socketio,pushline');
const BODY_BYTES = 128;
const CONNECTIONS = USERS * DEVICES;
/** The seeds' figures (issue 10): Socket.IO + Redis adapter server CPU per delivery. */
const SEEDS_US_PER_DELIVERY = { oneNode: 28, fourNodes: 54 };

/** Longest wait for the last deliveries of one run after its last send. */
const DRAIN_LIMIT_MS = 60_000;
/** Longest wait for a child to start, a client to connect, redis to answer (the machine may be busy). */
const START_LIMIT_MS = 60_000;
/**
 * Idle window after the warm-up (and a pause half as long, for the warm-up's garbage to be collected):
 * the servers' CPU with no message in flight (Socket.IO's heartbeats to 1,000 sockets, timers) is
 * measured over it, so that the report shows the CPU per delivery both as measured and net of it.
 */
const IDLE_WINDOW_MS = intEnv('BENCH_PEER_IDLE_MS', 4_000);
/**
 * The peer's own pace (messages/s) for one more unicast run that Pushline's local stack does not
 * sustain: Socket.IO's cost per delivery falls as messages come closer together (fewer wake-ups,
 * batched reads), and the seeds' figures were measured at such rates.
 */
const PEER_FAST_RATE = intEnv('BENCH_PEER_FAST_RATE', 500);
const PEER_FAST_SECONDS = intEnv('BENCH_PEER_FAST_SECONDS', 5);
/** The whole benchmark: past this it stops, cleans up and fails. */
const RUN_LIMIT_MS = intEnv('BENCH_PEER_LIMIT_S', 600) * 1000;
/** Sends in flight at once (Pushline's SNS publishes are requests; the emitter's are not awaited). */
const SEND_CONCURRENCY = 64;

const body = 'x'.repeat(BODY_BYTES);
const startedAt = Date.now();
const users = Array.from({ length: USERS }, (_, i) => `peer-user-${i}`);

// ---------------------------------------------------------------- clean-up of everything started

/** Child processes to kill on every way out (normal end, error, Ctrl-C, the run limit). */
const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void> | void)[] = [];
const tempDirs: string[] = [];

function killChildren(): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      progress(`clean-up: ${(error as Error).message}`);
    }
  }
  killChildren();
}

process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping`);
    void cleanUp().finally(() => process.exit(130));
  });
}
const runLimit = setTimeout(() => {
  progress(`run limit of ${RUN_LIMIT_MS / 1000} s reached: stopping`);
  void cleanUp().finally(() => process.exit(1));
}, RUN_LIMIT_MS);
runLimit.unref();

// ---------------------------------------------------------------- measuring deliveries

/** The payload every message carries (as Socket.IO event data and as Pushline's `data`). */
interface Payload {
  /** Sequence number within a run. */
  readonly s: number;
  /** Send time, µs on this process's monotonic clock. */
  readonly t: number;
  readonly b: string;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** Counts each message's receipts exactly and collects latencies. */
class Tally {
  #counts = new Uint16Array(0);
  #run = -1;
  latenciesUs: number[] = [];
  received = 0;
  duplicates = 0;
  strays = 0;
  perMessage = 0;

  /** Starts a run of `messages` messages, each for `perMessage` connections. */
  start(run: number, messages: number, perMessage: number): void {
    this.#run = run;
    this.#counts = new Uint16Array(messages);
    this.latenciesUs = [];
    this.received = 0;
    this.duplicates = 0;
    this.strays = 0;
    this.perMessage = perMessage;
  }

  receive(payload: unknown, run: unknown): void {
    const at = nowUs();
    const p = payload as Partial<Payload> | undefined;
    if (
      run !== this.#run ||
      typeof p?.s !== 'number' ||
      typeof p.t !== 'number' ||
      p.s >= this.#counts.length
    ) {
      this.strays += 1;
      return;
    }
    const count = (this.#counts[p.s] ?? 0) + 1;
    this.#counts[p.s] = count;
    if (count > this.perMessage) {
      this.duplicates += 1;
      return;
    }
    this.received += 1;
    this.latenciesUs.push(at - p.t);
  }
}

const tally = new Tally();

/** One system under test, as a run drives it. */
interface System {
  readonly name: string;
  /** Socket.IO node count; undefined for Pushline (no nodes to scale). */
  readonly nodes?: number;
  /** What `serverCpu().partsUs` holds, in order (nodes, or functions). */
  readonly partNames: readonly string[];
  unicast(user: string, payload: Payload, run: number): Promise<void> | void;
  broadcast(payload: Payload, run: number): Promise<void> | void;
  /** Server CPU so far, µs (summed over nodes or functions), and its parts. */
  serverCpu(): Promise<{ totalUs: number; partsUs: number[] }>;
  /** CPU of the shared infrastructure beside the servers (Redis), µs; undefined where not measured. */
  infraCpuUs(): number | undefined;
  /** Waits for the server side to finish work still in flight after the last receipt. */
  settle(): Promise<void>;
}

/** One measured run. */
interface Row {
  system: string;
  nodes: number | null;
  /** `unicast-fast`: unicast at the peer's own pace (PEER_FAST_RATE), Socket.IO only. */
  workload: 'unicast' | 'broadcast' | 'unicast-fast';
  /** Connections each message is for. */
  audience: number;
  messages: number;
  /** Messages per second sent (target and achieved). */
  targetRate: number;
  sentRate: number;
  expected: number;
  deliveries: number;
  missing: number;
  duplicates: number;
  sendErrors: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  serverCpuUsPerDelivery: number;
  /** The servers' CPU while idle, µs per second, measured just before the run (0 for Pushline's functions). */
  idleCpuUsPerSecond: number;
  /** Server CPU per delivery less the idle rate over the run's duration. */
  netCpuUsPerDelivery: number;
  /** Per node (Socket.IO) or per function (Pushline: deliver, fan-out), µs per message sent. */
  cpuUsPerMessageByPart: Record<string, number>;
  redisCpuUsPerDelivery: number | null;
}

let runCounter = 0;

async function measure(
  system: System,
  workload: Row['workload'],
  messages: number,
  ratePerSecond: number,
  idleCpuUsPerSecond = 0,
): Promise<Row> {
  const run = ++runCounter;
  const audience = workload === 'broadcast' ? CONNECTIONS : DEVICES;
  tally.start(run, messages, audience);
  await system.settle();
  const cpuBefore = await system.serverCpu();
  const infraBefore = system.infraCpuUs();
  let sendErrors = 0;
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  for (let i = 0; i < messages; i++) {
    const wait = start + (i * 1000) / ratePerSecond - performance.now();
    if (wait > 0) await sleep(wait);
    while (inFlight.size >= SEND_CONCURRENCY) await Promise.race(inFlight);
    const payload: Payload = { s: i, t: nowUs(), b: body };
    const sent = Promise.resolve()
      .then(() =>
        workload === 'broadcast'
          ? system.broadcast(payload, run)
          : system.unicast(users[i % USERS] as string, payload, run),
      )
      .catch((error: Error) => {
        sendErrors += 1;
        if (sendErrors <= 3) progress(`send failed: ${error.message}`);
      })
      .finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  }
  await Promise.all(inFlight);
  const sendSeconds = (performance.now() - start) / 1000;
  const expected = messages * audience;
  const drainDeadline = Date.now() + DRAIN_LIMIT_MS;
  while (tally.received < expected && Date.now() < drainDeadline) await sleep(10);
  await system.settle();
  const cpuAfter = await system.serverCpu();
  const seconds = (performance.now() - start) / 1000;
  const infraAfter = system.infraCpuUs();
  const deliveries = tally.received;
  const latencies = tally.latenciesUs.sort((a, b) => a - b);
  const pick = (q: number) =>
    (latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN) / 1000;
  const row: Row = {
    system: system.name,
    nodes: system.nodes ?? null,
    workload,
    audience,
    messages,
    targetRate: ratePerSecond,
    sentRate: messages / sendSeconds,
    expected,
    deliveries,
    missing: expected - deliveries,
    duplicates: tally.duplicates,
    sendErrors,
    seconds,
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
    maxMs: pick(1),
    serverCpuUsPerDelivery: (cpuAfter.totalUs - cpuBefore.totalUs) / Math.max(1, deliveries),
    idleCpuUsPerSecond,
    netCpuUsPerDelivery:
      (cpuAfter.totalUs - cpuBefore.totalUs - idleCpuUsPerSecond * seconds) / Math.max(1, deliveries),
    cpuUsPerMessageByPart: Object.fromEntries(
      cpuAfter.partsUs.map((after, i) => [
        system.partNames[i] ?? `part ${i}`,
        (after - (cpuBefore.partsUs[i] ?? 0)) / messages,
      ]),
    ),
    redisCpuUsPerDelivery:
      infraBefore === undefined || infraAfter === undefined
        ? null
        : (infraAfter - infraBefore) / Math.max(1, deliveries),
  };
  progress(
    `${system.name}${system.nodes ? ` ${system.nodes} node(s)` : ''} ${workload}: ${deliveries}/${expected} delivered` +
      ` in ${seconds.toFixed(1)} s, p50 ${row.p50Ms.toFixed(2)} ms, p99 ${row.p99Ms.toFixed(2)} ms,` +
      ` ${row.serverCpuUsPerDelivery.toFixed(1)} µs server CPU/delivery (${row.netCpuUsPerDelivery.toFixed(1)} net of idle)`,
  );
  if (row.missing > 0) progress(`  ${row.missing} deliveries missing after ${DRAIN_LIMIT_MS / 1000} s`);
  if (tally.strays > 0) progress(`  ${tally.strays} frames of another run or unreadable`);
  return row;
}

/**
 * Unicast, then broadcast (and for the peer, unicast at its own pace), after a warm-up that is not
 * measured but must arrive whole: `warm.messages` unicast messages at `warm.rate` (enough for V8 to
 * optimize the hot paths, as in a long-running server), then one broadcast; then the idle CPU.
 */
async function runWorkloads(
  system: System,
  warm: { messages: number; rate: number; fast: boolean },
): Promise<Row[]> {
  const warmUnicast = await measure(system, 'unicast', warm.messages, warm.rate);
  const warmBroadcast = await measure(system, 'broadcast', 1, 1);
  for (const row of [warmUnicast, warmBroadcast])
    if (row.missing > 0) throw new Error(`${system.name}: the warm-up lost ${row.missing} deliveries`);
  await sleep(IDLE_WINDOW_MS / 2);
  // The median of four short windows: one GC of the warm-up's garbage would distort a single window.
  const windows: number[] = [];
  for (let i = 0; i < 4; i++) {
    const before = (await system.serverCpu()).totalUs;
    const windowStart = performance.now();
    await sleep(IDLE_WINDOW_MS / 4);
    windows.push(((await system.serverCpu()).totalUs - before) / ((performance.now() - windowStart) / 1000));
  }
  windows.sort((x, y) => x - y);
  const idle = ((windows[1] ?? 0) + (windows[2] ?? 0)) / 2;
  progress(`${system.name}: idle server CPU ${(idle / 1000).toFixed(2)} ms/s`);
  const rows = [
    await measure(system, 'unicast', RATE * UNICAST_SECONDS, RATE, idle),
    await measure(system, 'broadcast', BROADCASTS, 1000 / BROADCAST_INTERVAL_MS, idle),
  ];
  if (warm.fast)
    rows.push(
      await measure(system, 'unicast-fast', PEER_FAST_RATE * PEER_FAST_SECONDS, PEER_FAST_RATE, idle),
    );
  return rows;
}

// ---------------------------------------------------------------- Socket.IO + Redis adapter

interface Redis {
  readonly url: string;
  readonly pid: number;
}

async function startRedis(): Promise<Redis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pushline-peer-redis-'));
  tempDirs.push(dir);
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.add(child);
  child.stderr?.on('data', (chunk: Buffer) => progress(`redis: ${chunk.toString().trim()}`));
  const spawned = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new Error(`redis-server did not start (${error.message}); apt-get install redis-server`)),
    );
  });
  if (child.pid === undefined) await spawned;
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + START_LIMIT_MS;
  for (;;) {
    const client = createClient({ url, socket: { reconnectStrategy: false } });
    client.on('error', () => {});
    try {
      await Promise.race([client.connect(), spawned]);
      await client.ping();
      await client.quit();
      break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer: ${(error as Error).message}`);
      await sleep(100);
    }
  }
  progress(`redis-server ${redisVersion()} on ${url} (pid ${child.pid})`);
  return { url, pid: child.pid as number };
}

interface PeerNode {
  readonly child: ChildProcess;
  readonly port: number;
}

let cpuRequestId = 0;

async function startNode(redisUrl: string, index: number): Promise<PeerNode> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./peer-node.ts', import.meta.url).pathname],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, PEER_REDIS_URL: redisUrl },
    },
  );
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${index} did not start`)), START_LIMIT_MS);
    child.once('exit', (code) => reject(new Error(`node ${index} exited (${code}) while starting`)));
    child.on('message', (report: NodeReport) => {
      if (report.type === 'ready') {
        clearTimeout(timer);
        resolve(report.port);
      }
    });
  });
  return { child, port };
}

function nodeCpuUs(node: PeerNode): Promise<number> {
  const id = ++cpuRequestId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('a node did not report its CPU')), 10_000);
    const listener = (report: NodeReport) => {
      if (report.type === 'cpu' && report.id === id) {
        clearTimeout(timer);
        node.child.off('message', listener);
        resolve(report.cpuUs);
      }
    };
    node.child.on('message', listener);
    node.child.send({ type: 'cpu', id } satisfies NodeCommand);
  });
}

async function stopNode(node: PeerNode): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = new Promise((resolve) => node.child.once('exit', resolve));
  node.child.send({ type: 'stop' } satisfies NodeCommand);
  await Promise.race([exited, sleep(5_000)]);
  node.child.kill('SIGKILL');
  children.delete(node.child);
}

async function runSocketIo(redis: Redis, emitter: Emitter, nodeCount: number): Promise<Row[]> {
  progress(`Socket.IO: starting ${nodeCount} node(s)`);
  // One after the other: four TypeScript loads at once on a busy 2-core machine can take a minute.
  const nodes: PeerNode[] = [];
  for (let i = 0; i < nodeCount; i++) nodes.push(await startNode(redis.url, i));
  const sockets: Socket[] = [];
  const closeAll = async () => {
    for (const socket of sockets) socket.close();
    sockets.length = 0;
    await Promise.all(nodes.map(stopNode));
  };
  cleanups.push(closeAll);
  try {
    const connectStart = Date.now();
    // Consecutive devices of a user land on different nodes, as behind a round-robin balancer.
    const slots = users.flatMap((user) => Array.from({ length: DEVICES }, () => user));
    await mapBounded(
      slots.map((user, i) => ({ user, node: nodes[i % nodeCount] as PeerNode })),
      async ({ user, node }) => {
        const socket = connectSocketIo(`http://127.0.0.1:${node.port}`, {
          transports: ['websocket'],
          forceNew: true,
          reconnection: false,
          timeout: START_LIMIT_MS,
          auth: { user },
        });
        sockets.push(socket);
        socket.on('m', (payload: unknown, run: unknown) => tally.receive(payload, run));
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        });
      },
      32,
    );
    progress(
      `Socket.IO: ${sockets.length} clients on ${nodeCount} node(s) in ${((Date.now() - connectStart) / 1000).toFixed(1)} s`,
    );
    const system: System = {
      name: 'Socket.IO + Redis adapter',
      nodes: nodeCount,
      partNames: nodes.map((_, i) => `node ${i + 1}`),
      unicast: (user, payload, run) => void emitter.to(user).emit('m', payload, run),
      broadcast: (payload, run) => void emitter.emit('m', payload, run),
      serverCpu: async () => {
        const partsUs = await Promise.all(nodes.map(nodeCpuUs));
        return { totalUs: partsUs.reduce((sum, us) => sum + us, 0), partsUs };
      },
      infraCpuUs: () => processCpuUs(redis.pid),
      settle: () => sleep(200),
    };
    return await runWorkloads(system, { messages: PEER_FAST_RATE * 4, rate: PEER_FAST_RATE, fast: true });
  } finally {
    cleanups.splice(cleanups.indexOf(closeAll), 1);
    await closeAll();
  }
}

// ---------------------------------------------------------------- Pushline on the local stack

const PUSHLINE_FUNCTIONS = ['deliver', 'fanout'] as const;

async function runPushline(): Promise<Row[]> {
  progress('Pushline: starting the local stack');
  const stack: LocalStack = await startLocalStack({
    quiet: true,
    console: false,
    log: (line) => progress(`stack: ${line}`),
  });
  const sockets: WebSocket[] = [];
  const stop = async () => {
    for (const socket of sockets) socket.terminate();
    sockets.length = 0;
    await stack.stop();
  };
  cleanups.push(stop);
  try {
    const connectStart = Date.now();
    const slots = users.flatMap((user) => Array.from({ length: DEVICES }, () => user));
    let connected = 0;
    await mapBounded(
      slots,
      async (user) => {
        const socket = new WebSocket(`${stack.outputs.WebSocketUrl}?token=${await mintLocalToken(user)}`);
        sockets.push(socket);
        socket.on('message', (raw) => {
          const frame = JSON.parse(raw.toString()) as { kind?: string; data?: Payload & { r?: number } };
          if (frame.kind === 'message') tally.receive(frame.data, frame.data?.r);
        });
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('a connection did not open')), START_LIMIT_MS);
          socket.once('open', () => resolve(clearTimeout(timer)));
          socket.once('error', reject);
          socket.once('unexpected-response', (_request, response) =>
            reject(new Error(`HTTP ${response.statusCode}`)),
          );
        });
        connected += 1;
        if (connected % 250 === 0) progress(`Pushline: ${connected}/${slots.length} connected`);
      },
      16,
    );
    const held = stack.connectionIds().length;
    if (held !== CONNECTIONS)
      throw new Error(`expected ${CONNECTIONS} connections, the gateway holds ${held}`);
    progress(`Pushline: ${held} clients in ${((Date.now() - connectStart) / 1000).toFixed(1)} s`);
    const publisher = new Publisher({
      topicArn: stack.outputs.TopicArn,
      client: new SNSClient({
        endpoint: stack.outputs.AwsEndpointUrl,
        region: stack.outputs.Region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    });
    // Push-only (persist: false), like the peer, which stores nothing.
    const publish = async (to: { users: string[] } | { all: true }, payload: Payload, run: number) => {
      await publisher.publish({ to, type: 'bench', data: { ...payload, r: run }, persist: false });
    };
    const system: System = {
      name: 'Pushline (local stack)',
      partNames: PUSHLINE_FUNCTIONS,
      unicast: (user, payload, run) => publish({ users: [user] }, payload, run),
      broadcast: (payload, run) => publish({ all: true }, payload, run),
      serverCpu: async () => {
        const partsUs = PUSHLINE_FUNCTIONS.map((name) => stack.functionStats(name).cpuMs * 1000);
        return { totalUs: partsUs.reduce((sum, us) => sum + us, 0), partsUs };
      },
      infraCpuUs: () => undefined,
      // An invocation's CPU is counted when it returns, which may be after its last post arrived.
      settle: () => stack.idle(30_000),
    };
    // As many messages as the local stack takes in about ten seconds at the common rate.
    return await runWorkloads(system, { messages: RATE * 10, rate: RATE, fast: false });
  } finally {
    cleanups.splice(cleanups.indexOf(stop), 1);
    await stop();
  }
}

// ---------------------------------------------------------------- report

function report(rows: Row[]): { text: string; goal: Goal } {
  const fmt = (value: number | null, digits: number) =>
    value === null || !Number.isFinite(value) ? '-' : value.toFixed(digits);
  const lines = [
    '| system | nodes | workload (audience) | msgs | msg/s sent | delivered / expected | dup | p50 ms | p99 ms | server CPU µs/delivery | idle server CPU ms/s | net of idle µs/delivery | Redis CPU µs/delivery |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.system} | ${r.nodes ?? '-'} | ${r.workload} (${r.audience}) | ${r.messages} | ${fmt(r.sentRate, 1)} | ${r.deliveries} / ${r.expected} | ${r.duplicates} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.serverCpuUsPerDelivery, 1)} | ${fmt(r.idleCpuUsPerSecond / 1000, 2)} | ${fmt(r.netCpuUsPerDelivery, 1)} | ${fmt(r.redisCpuUsPerDelivery, 1)} |`,
    ),
  ];
  const goal = goalOf(rows);
  const growth = growthLines(rows);
  const header = [
    `Peer benchmark, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores`,
    `${USERS} users x ${DEVICES} devices = ${CONNECTIONS} connections, ${BODY_BYTES}-byte bodies; unicast ${RATE} msg/s for ${UNICAST_SECONDS} s; broadcast ${BROADCASTS} every ${BROADCAST_INTERVAL_MS} ms`,
    'Socket.IO server CPU: every node process (process.cpuUsage); Redis beside it (/proc). Pushline: deliver + fan-out functions, thread CPU of their invocations.',
    `Seeds' figures: ${SEEDS_US_PER_DELIVERY.oneNode} µs/delivery at one node, ${SEEDS_US_PER_DELIVERY.fourNodes} at four.`,
  ];
  const text = `${header.join('\n')}\n\n${lines.join('\n')}\n\n${growth.join('\n')}\n${goal.text}\n`;
  return { text, goal };
}

interface Goal {
  text: string;
  pushlineUsPerDelivery: number | null;
  /** Socket.IO at four nodes, unicast: as measured, and net of its idle CPU. */
  peerFourNodeUsPerDelivery: number | null;
  peerFourNodeNetUsPerDelivery: number | null;
  /** Pushline's figure over the peer's four-node one, net of idle (the goal is at most 2). */
  ratio: number | null;
  /** The same over the figure as measured. */
  ratioToMeasured: number | null;
  met: boolean | null;
}

/**
 * The issue's goal: Pushline's CPU per delivery within 2× Socket.IO's at four nodes, unicast. It is
 * judged against the peer's figure net of idle (the stricter one for Pushline: its functions carry
 * no idle cost, since API Gateway holds the sockets and answers their pings).
 */
function goalOf(rows: Row[]): Goal {
  const pushline = rows.find((r) => r.nodes === null && r.workload === 'unicast');
  const peer = rows.find((r) => r.nodes === 4 && r.workload === 'unicast');
  if (!pushline || !peer)
    return {
      text: 'Goal (Pushline ≤ 2× the four-node figure): not measured in this run.',
      pushlineUsPerDelivery: pushline?.serverCpuUsPerDelivery ?? null,
      peerFourNodeUsPerDelivery: peer?.serverCpuUsPerDelivery ?? null,
      peerFourNodeNetUsPerDelivery: peer?.netCpuUsPerDelivery ?? null,
      ratio: null,
      ratioToMeasured: null,
      met: null,
    };
  const ours = pushline.serverCpuUsPerDelivery;
  const ratio = ours / peer.netCpuUsPerDelivery;
  const ratioToMeasured = ours / peer.serverCpuUsPerDelivery;
  const met = ratio <= 2;
  return {
    text:
      `Goal, unicast: Pushline ${ours.toFixed(1)} µs/delivery vs Socket.IO at 4 nodes ${peer.netCpuUsPerDelivery.toFixed(1)} net of idle` +
      ` (${peer.serverCpuUsPerDelivery.toFixed(1)} as measured): ${ratio.toFixed(1)}× (${ratioToMeasured.toFixed(1)}×);` +
      ` the goal is ≤ 2×: ${met ? 'met' : `missed by ${(ratio / 2).toFixed(1)}×`}.`,
    pushlineUsPerDelivery: ours,
    peerFourNodeUsPerDelivery: peer.serverCpuUsPerDelivery,
    peerFourNodeNetUsPerDelivery: peer.netCpuUsPerDelivery,
    ratio,
    ratioToMeasured,
    met,
  };
}

/** How each system's CPU per delivery grows with nodes (Socket.IO) and with the audience (both). */
function growthLines(rows: Row[]): string[] {
  const lines: string[] = [];
  const find = (nodes: number | null, workload: Row['workload']) =>
    rows.find((r) => r.nodes === nodes && r.workload === workload);
  const both = (r: Row) =>
    r.nodes === null
      ? r.serverCpuUsPerDelivery.toFixed(1)
      : `${r.serverCpuUsPerDelivery.toFixed(1)} (net ${r.netCpuUsPerDelivery.toFixed(1)})`;
  const counts = nodeCounts(rows);
  const first = counts[0];
  const last = counts[counts.length - 1];
  if (first !== undefined && last !== undefined && first !== last) {
    for (const workload of ['unicast', 'unicast-fast', 'broadcast'] as const) {
      const from = find(first, workload);
      const to = find(last, workload);
      if (from && to)
        lines.push(
          `With nodes, Socket.IO ${workload}: ${both(from)} → ${both(to)} µs/delivery from ${first} to ${last} node(s)` +
            ` (×${(to.serverCpuUsPerDelivery / from.serverCpuUsPerDelivery).toFixed(2)}, net ×${(to.netCpuUsPerDelivery / from.netCpuUsPerDelivery).toFixed(2)}).`,
        );
    }
  }
  for (const nodes of [...counts, null]) {
    const unicast = find(nodes, 'unicast');
    const broadcast = find(nodes, 'broadcast');
    if (unicast && broadcast)
      lines.push(
        `With the audience, ${unicast.system}${nodes === null ? '' : ` at ${nodes} node(s)`}, ${unicast.audience} → ${broadcast.audience} connections a message: ${both(unicast)} → ${both(broadcast)} µs/delivery.`,
      );
  }
  return lines;
}

function nodeCounts(rows: Row[]): number[] {
  return [...new Set(rows.flatMap((r) => (r.nodes === null ? [] : [r.nodes])))].sort((a, b) => a - b);
}

function chart(rows: Row[]): string {
  const counts = nodeCounts(rows);
  const xTicks = counts.length > 0 ? counts : NODE_COUNTS;
  const xs = [Math.min(...xTicks), Math.max(...xTicks)];
  const series: ChartSeries[] = [];
  const peerLines = [
    { workload: 'unicast', name: `unicast ${RATE}/s`, color: '#c92a2a' },
    { workload: 'unicast-fast', name: `unicast ${PEER_FAST_RATE}/s`, color: '#f76707' },
    { workload: 'broadcast', name: 'broadcast', color: '#862e9c' },
  ] as const;
  for (const { workload, name, color } of peerLines) {
    const points = rows
      .filter((r) => r.nodes !== null && r.workload === workload)
      .map((r) => [r.nodes as number, r.serverCpuUsPerDelivery] as const);
    if (points.length > 0) series.push({ name: `Socket.IO, ${name}`, points, color });
  }
  const pushlineColors = { unicast: '#1864ab', broadcast: '#4dabf7' };
  for (const workload of ['unicast', 'broadcast'] as const) {
    const row = rows.find((r) => r.nodes === null && r.workload === workload);
    // Pushline has no nodes: its figure is drawn across the whole axis.
    if (row)
      series.push({
        name: `Pushline, ${workload === 'unicast' ? `unicast ${RATE}/s` : workload}`,
        points: xs.map((x) => [x, row.serverCpuUsPerDelivery] as const),
        color: pushlineColors[workload],
        dashed: true,
        markers: false,
      });
  }
  series.push({
    name: "seeds' figures (issue 10)",
    points: [
      [1, SEEDS_US_PER_DELIVERY.oneNode],
      [4, SEEDS_US_PER_DELIVERY.fourNodes],
    ],
    color: '#868e96',
    dashed: true,
  });
  const goal = goalOf(rows);
  if (goal.peerFourNodeNetUsPerDelivery !== null)
    series.push({
      name: 'goal: 2× Socket.IO at 4 (net)',
      points: xs.map((x) => [x, 2 * (goal.peerFourNodeNetUsPerDelivery as number)] as const),
      color: '#2b8a3e',
      dashed: true,
      markers: false,
    });
  return lineChart({
    title: 'Server CPU per delivery: Socket.IO + Redis adapter vs Pushline',
    subtitle: `${CONNECTIONS} connections (${USERS} users × ${DEVICES}), ${BODY_BYTES}-byte bodies, unicast ${RATE} msg/s, broadcast to all`,
    xLabel: 'Socket.IO nodes (Pushline has none: its lines are flat by construction)',
    yLabel: 'µs of server CPU per delivery (log scale)',
    xTicks,
    series,
    logY: true,
  });
}

// ---------------------------------------------------------------- helpers

function progress(line: string): void {
  process.stderr.write(`[peer ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
}

let clockTicks: number | undefined;

/** User + system CPU of another process in µs, from /proc/<pid>/stat; undefined off Linux. */
function processCpuUs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    return (ticks / clockTicks) * 1e6;
  } catch {
    return undefined;
  }
}

function redisVersion(): string {
  try {
    return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ')[2] ?? '';
  } catch {
    return '';
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

function listEnv(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

// ---------------------------------------------------------------- main

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(): Promise<void> {
  if (NODE_COUNTS.some((n) => !Number.isInteger(n) || n <= 0 || n > 8))
    throw new Error('BENCH_PEER_NODES must list node counts from 1 to 8');
  progress(
    `${CONNECTIONS} connections (${USERS} users × ${DEVICES}), unicast ${RATE} msg/s × ${UNICAST_SECONDS} s, ${BROADCASTS} broadcasts; systems: ${SYSTEMS.join(', ')}`,
  );
  const rows: Row[] = [];
  let redisVersionText: string | null = null;
  if (SYSTEMS.includes('socketio')) {
    const redis = await startRedis();
    redisVersionText = redisVersion();
    const client = createClient({ url: redis.url });
    client.on('error', (error: Error) => progress(`redis client: ${error.message}`));
    await client.connect();
    const quit = async () => {
      if (client.isOpen) await client.quit();
    };
    cleanups.push(quit);
    const emitter = new Emitter(client);
    for (const nodes of NODE_COUNTS) rows.push(...(await runSocketIo(redis, emitter, nodes)));
  }
  if (SYSTEMS.includes('pushline')) rows.push(...(await runPushline()));

  const { text, goal } = report(rows);
  process.stdout.write(`\n${text}\n`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(
    'bench/results/peer.json',
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cores: cpus().length,
        redis: redisVersionText,
        workload: {
          users: USERS,
          devices: DEVICES,
          connections: CONNECTIONS,
          bodyBytes: BODY_BYTES,
          unicastRate: RATE,
          unicastSeconds: UNICAST_SECONDS,
          broadcasts: BROADCASTS,
          broadcastIntervalMs: BROADCAST_INTERVAL_MS,
        },
        seedsUsPerDelivery: SEEDS_US_PER_DELIVERY,
        goal,
        rows,
      },
      null,
      2,
    )}\n`,
  );
  await writeFile('bench/results/peer.svg', chart(rows));
  progress('written to bench/results/peer.json and bench/results/peer.svg');
}

try {
  await main();
  await cleanUp();
} catch (error) {
  progress(`failed: ${(error as Error).stack ?? error}`);
  await cleanUp();
  process.exitCode = 1;
}
// Keep-alive agents and timers of the clients would hold the process open; everything is stopped.
process.exit();
