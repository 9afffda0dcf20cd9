/**
 * `npm run bench:gateway`: how many PostToConnection calls per second the local API Gateway
 * emulator serves, counted as frames arriving at real WebSocket clients.
 *
 * The gateway runs in a process of its own (bench/gateway-server.ts); this process holds the
 * WebSocket clients and posts to them over 127.0.0.1 with two clients at the same concurrency, in
 * the same run and in alternating rounds (so a busy machine slows both alike):
 * - lean: `http.request` on a keep-alive `http.Agent` (one socket per post in flight), unsigned;
 * - sdk: `ApiGatewayManagementApiClient` (SDK v3, SigV4) on the same kind of agent.
 * A third series posts with the lean client to simulated connections (ids registered through the
 * local-only `/@local/simulated-connections` endpoint, whose posts the gateway only counts): the
 * management API alone, without WebSocket frames, read back from that endpoint's counts.
 * Besides posts per second, each run reports the CPU time the gateway process and this process
 * spent per post: on a shared machine the gateway's CPU per post is the steadier figure, and
 * 1,000,000 / (µs per post) is what one core of its own would let the gateway serve.
 *
 * Options (environment): BENCH_CONNECTIONS (200), BENCH_CONCURRENCY (64), BENCH_POSTS (40000, per
 * lean run), BENCH_SDK_POSTS (8000, per SDK run), BENCH_SIMULATED (10000 simulated connections),
 * BENCH_ROUNDS (3), BENCH_BODY_BYTES (128),
 * BENCH_GATEWAY_CPU_PROF (a directory: the gateway process writes a --cpu-prof profile there).
 * Progress goes to stderr; the table to stdout and bench/results/gateway.{json,md}.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import WebSocket from 'ws';
import { mapBounded } from '../functions/domain/fan-out.ts';
import { intEnv } from './env.ts';
import type { GatewayServerMessage, GatewayServerRequest } from './gateway-server.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(HERE, 'results');

const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 200, 5_000);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 64, 1_024);
const LEAN_POSTS = intEnv('BENCH_POSTS', 40_000, 2_000_000);
const SDK_POSTS = intEnv('BENCH_SDK_POSTS', 8_000, 500_000);
const SIMULATED = intEnv('BENCH_SIMULATED', 10_000, 200_000);
const ROUNDS = intEnv('BENCH_ROUNDS', 3, 20);
const BODY_BYTES = intEnv('BENCH_BODY_BYTES', 128, 128 * 1024);
/** The target for the lean client. */
const TARGET_POSTS_PER_SECOND = 10_000;
/** Bounds: one run's posting, the frames' arrival after the last answer, the whole benchmark. */
const RUN_LIMIT_MS = 120_000;
const DRAIN_LIMIT_MS = 15_000;
const BENCH_LIMIT_MS = 15 * 60_000;
const POST_TIMEOUT_MS = 10_000;

/** Who posts to what: the lean or SDK client to real connections, the lean one to simulated ones. */
type Series = 'lean' | 'sdk' | 'simulated';

const SERIES: readonly Series[] = ['lean', 'sdk', 'simulated'];
const SERIES_NAMES: Record<Series, string> = {
  lean: 'lean: http.request, keep-alive Agent',
  sdk: 'SDK v3 ApiGatewayManagementApiClient',
  simulated: 'lean, to simulated connections (counted, no frames)',
};

/** One measured run. */
interface Run {
  readonly series: Series;
  readonly round: number;
  /** Posts answered 200. */
  readonly accepted: number;
  /** Posts answered otherwise or failed: HTTP status, or error code (ECONNRESET…), to count. */
  readonly errors: Record<string, number>;
  /** Frames the clients received (posts the gateway counted, for simulated connections). */
  readonly delivered: number;
  /** From the first post to the last frame (the last answer, for simulated connections). */
  readonly seconds: number;
  readonly postsPerSecond: number;
  readonly gatewayCpuUsPerPost: number;
  readonly clientCpuUsPerPost: number;
}

/** Runs of one series, summed up. */
interface Summary {
  readonly series: Series;
  readonly runs: number;
  readonly postsPerSecond: { readonly median: number; readonly min: number; readonly max: number };
  readonly gatewayCpuUsPerPost: number;
  /** 1,000,000 / gatewayCpuUsPerPost: what the gateway would serve on one core of its own. */
  readonly gatewayBoundPostsPerSecond: number;
  readonly clientCpuUsPerPost: number;
  readonly errors: number;
}

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** The gateway's process, driven over its IPC channel. */
class GatewayProcess {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (value: unknown) => void>();
  #nextId = 1;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (message: GatewayServerMessage) => {
      if (message.op !== 'answer') return;
      this.#pending.get(message.id)?.(message.value);
      this.#pending.delete(message.id);
    });
  }

  static async start(): Promise<{ gateway: GatewayProcess; url: string; callbackUrl: string }> {
    const profile = process.env.BENCH_GATEWAY_CPU_PROF;
    const child = fork(join(HERE, 'gateway-server.ts'), [], {
      execArgv: ['--import', 'tsx', ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await withTimeout(
      new Promise<Extract<GatewayServerMessage, { op: 'ready' }>>((resolve, reject) => {
        child.on('message', (message: GatewayServerMessage) => {
          if (message.op === 'ready') resolve(message);
        });
        child.once('exit', (code) => reject(new Error(`the gateway process exited (${code})`)));
      }),
      30_000,
      'the gateway process to listen',
    );
    return { gateway: new GatewayProcess(child), url: ready.url, callbackUrl: ready.callbackUrl };
  }

  ask<T>(op: GatewayServerRequest['op']): Promise<T> {
    const id = this.#nextId++;
    const answer = new Promise<T>((resolve) => this.#pending.set(id, resolve as (value: unknown) => void));
    this.#child.send({ id, op } satisfies GatewayServerRequest);
    return withTimeout(answer, 30_000, `the gateway's answer to ${op}`);
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || !this.#child.connected) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    await this.ask('close').catch(() => this.#child.kill());
    await withTimeout(exited, 10_000, 'the gateway process to exit').catch(() => this.#child.kill('SIGKILL'));
  }
}

/** WebSocket clients counting the frames they receive. */
class Receivers {
  readonly sockets: WebSocket[] = [];
  received = 0;
  lastFrameAt = 0;

  async open(url: string, count: number): Promise<void> {
    let opened = 0;
    await mapBounded(
      Array.from({ length: count }, (_, i) => i),
      async () => {
        const socket = new WebSocket(url, { handshakeTimeout: 10_000 });
        await new Promise((resolve, reject) => {
          socket.once('open', resolve);
          socket.once('error', reject);
          socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        });
        socket.on('message', () => {
          this.received++;
          this.lastFrameAt = performance.now();
        });
        this.sockets.push(socket);
        opened++;
        if (opened % 100 === 0) progress(`  connected ${opened} of ${count}`);
      },
      16,
    );
  }

  close(): void {
    for (const socket of this.sockets) socket.terminate();
  }
}

/** A post: resolves with the HTTP status, or the error's code when no answer came; never rejects. */
type Post = (connectionId: string) => Promise<number | string>;

function failure(error: unknown): string {
  const { code, name } = error as { code?: unknown; name?: unknown };
  return typeof code === 'string' ? code : typeof name === 'string' ? name : 'Error';
}

function leanPoster(callbackUrl: string, body: Buffer): { post: Post; close: () => void } {
  const base = new URL(callbackUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const headers = { 'content-type': 'application/json', 'content-length': body.length };
  const post: Post = (connectionId) =>
    new Promise((resolve) => {
      const req = request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method: 'POST',
          path: `${base.pathname}/@connections/${encodeURIComponent(connectionId)}`,
          headers,
          timeout: POST_TIMEOUT_MS,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', (error) => resolve(failure(error)));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', (error) => resolve(failure(error)));
      req.end(body);
    });
  return { post, close: () => agent.destroy() };
}

function sdkPoster(callbackUrl: string, body: Buffer): { post: Post; close: () => void } {
  const client = new ApiGatewayManagementApiClient({
    endpoint: callbackUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    // One attempt: a retried post would count twice in the gateway's CPU and once in the frames.
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }),
      requestTimeout: POST_TIMEOUT_MS,
    }),
  });
  const post: Post = async (connectionId) => {
    try {
      const output = await client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: body }),
      );
      return output.$metadata.httpStatusCode ?? 200;
    } catch (error) {
      return (
        (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? failure(error)
      );
    }
  };
  return { post, close: () => client.destroy() };
}

/** Where delivered posts are counted: frames at the clients, or the gateway's counts of simulated ids. */
interface Sink {
  /** Posts delivered so far (a running total). */
  count(): Promise<number>;
  /** When the last one arrived (performance.now()), knowing when the last answer came. */
  lastAt(lastAnswerAt: number): number;
}

function frameSink(receivers: Receivers): Sink {
  return { count: async () => receivers.received, lastAt: () => receivers.lastFrameAt };
}

/** Simulated connections count a post before answering it: the last answer is the last delivery. */
function simulatedSink(control: string): Sink {
  return {
    count: async () => {
      const response = await fetch(control, { signal: AbortSignal.timeout(POST_TIMEOUT_MS) });
      return ((await response.json()) as { posts: number }).posts;
    },
    lastAt: (lastAnswerAt) => lastAnswerAt,
  };
}

/** Registers `count` simulated connections through the gateway's local-only endpoint. */
async function simulatedConnections(control: string, count: number): Promise<string[]> {
  const response = await fetch(control, {
    method: 'POST',
    body: JSON.stringify({ count }),
    signal: AbortSignal.timeout(30_000),
  });
  if (response.status !== 200) throw new Error(`${control} answered ${response.status}`);
  return ((await response.json()) as { ids: string[] }).ids;
}

/** Posts `total` times round-robin over `ids`, `CONCURRENCY` in flight, then waits for the deliveries. */
async function measure(
  series: Series,
  round: number,
  post: Post,
  total: number,
  ids: readonly string[],
  sink: Sink,
  gateway: GatewayProcess,
): Promise<Run> {
  const label = `${series} round ${round}`;
  const deliveredBefore = await sink.count();
  const gatewayCpuBefore = await gateway.ask<number>('cpu');
  const clientCpuBefore = process.cpuUsage();
  const start = performance.now();
  const deadline = start + RUN_LIMIT_MS;
  const errors: Record<string, number> = {};
  let issued = 0;
  let accepted = 0;
  let lastAnswerAt = 0;
  let delivered = 0;
  const ticker = setInterval(() => progress(`  ${label}: ${issued} of ${total} posts`), 1_000);
  try {
    const worker = async () => {
      while (issued < total && performance.now() < deadline) {
        const id = ids[issued++ % ids.length] as string;
        const status = await post(id);
        lastAnswerAt = performance.now();
        if (status === 200) accepted++;
        else errors[status] = (errors[status] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, total) }, worker));
    const drainDeadline = performance.now() + DRAIN_LIMIT_MS;
    for (;;) {
      delivered = (await sink.count()) - deliveredBefore;
      if (delivered >= accepted || performance.now() > drainDeadline) break;
      await delay(5);
    }
  } finally {
    clearInterval(ticker);
  }
  const end = delivered > 0 ? Math.max(sink.lastAt(lastAnswerAt), start) : performance.now();
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const gatewayCpuMs = (await gateway.ask<number>('cpu')) - gatewayCpuBefore;
  const seconds = (end - start) / 1000;
  const posts = Math.max(1, accepted);
  const run: Run = {
    series,
    round,
    accepted,
    errors,
    delivered,
    seconds,
    postsPerSecond: delivered / seconds,
    gatewayCpuUsPerPost: (gatewayCpuMs * 1000) / posts,
    clientCpuUsPerPost: (clientCpu.user + clientCpu.system) / posts,
  };
  const failed = Object.values(errors).reduce((sum, n) => sum + n, 0);
  progress(
    `  ${label}: ${fmt(run.postsPerSecond)} posts/s (${accepted} accepted, ${delivered} delivered, ${failed} failed; gateway ${run.gatewayCpuUsPerPost.toFixed(1)} µs CPU/post)`,
  );
  if (delivered !== accepted) {
    progress(
      `  ${label}: ${accepted} posts accepted, ${delivered} delivered within ${DRAIN_LIMIT_MS / 1000} s`,
    );
  }
  return run;
}

async function main(): Promise<void> {
  const benchDeadline = setTimeout(() => {
    progress(`bench:gateway gave up after ${BENCH_LIMIT_MS / 60_000} minutes`);
    process.exit(1);
  }, BENCH_LIMIT_MS);
  benchDeadline.unref();
  const loadBefore = loadavg();
  progress(
    `bench:gateway: ${CONNECTIONS} connections and ${SIMULATED} simulated ones, concurrency ${CONCURRENCY}, ${ROUNDS} rounds of ${LEAN_POSTS} lean, ${SDK_POSTS} SDK and ${LEAN_POSTS} simulated posts, ${BODY_BYTES}-byte bodies`,
  );
  const { gateway, url, callbackUrl } = await GatewayProcess.start();
  const receivers = new Receivers();
  const body = Buffer.from(benchBody(BODY_BYTES));
  const lean = leanPoster(callbackUrl, body);
  const sdk = sdkPoster(callbackUrl, body);
  try {
    await receivers.open(url, CONNECTIONS);
    const ids = await gateway.ask<string[]>('connections');
    if (ids.length !== CONNECTIONS)
      throw new Error(`the gateway holds ${ids.length} of ${CONNECTIONS} connections`);
    const control = new URL('/@local/simulated-connections', callbackUrl).href;
    const simulatedIds = await simulatedConnections(control, SIMULATED);
    const frames = frameSink(receivers);
    const counted = simulatedSink(control);

    progress('warm-up (not measured)');
    await measure('lean', 0, lean.post, Math.min(LEAN_POSTS, 5_000), ids, frames, gateway);
    await measure('sdk', 0, sdk.post, Math.min(SDK_POSTS, 1_000), ids, frames, gateway);
    await measure('simulated', 0, lean.post, Math.min(LEAN_POSTS, 5_000), simulatedIds, counted, gateway);

    const runs: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      runs.push(await measure('simulated', round, lean.post, LEAN_POSTS, simulatedIds, counted, gateway));
      runs.push(await measure('lean', round, lean.post, LEAN_POSTS, ids, frames, gateway));
      runs.push(await measure('sdk', round, sdk.post, SDK_POSTS, ids, frames, gateway));
    }
    await report(runs, { loadBefore, loadAfter: loadavg() });
  } finally {
    lean.close();
    sdk.close();
    receivers.close();
    await gateway.stop();
  }
}

function summarize(runs: readonly Run[], series: Series): Summary {
  const mine = runs.filter((run) => run.series === series);
  const rates = mine.map((run) => run.postsPerSecond).sort((a, b) => a - b);
  const gatewayCpu = median(mine.map((run) => run.gatewayCpuUsPerPost));
  return {
    series,
    runs: mine.length,
    postsPerSecond: { median: median(rates), min: rates[0] ?? 0, max: rates.at(-1) ?? 0 },
    gatewayCpuUsPerPost: gatewayCpu,
    gatewayBoundPostsPerSecond: 1_000_000 / gatewayCpu,
    clientCpuUsPerPost: median(mine.map((run) => run.clientCpuUsPerPost)),
    errors: mine.reduce((sum, run) => sum + Object.values(run.errors).reduce((a, b) => a + b, 0), 0),
  };
}

async function report(runs: readonly Run[], machine: { loadBefore: number[]; loadAfter: number[] }) {
  const summaries = SERIES.map((series) => summarize(runs, series));
  const leanSummary = summaries[0] as Summary;
  const load = (values: number[]) => values.map((v) => v.toFixed(1)).join(' ');
  const verdict =
    leanSummary.postsPerSecond.median >= TARGET_POSTS_PER_SECOND
      ? 'met'
      : `missed by ${fmt(TARGET_POSTS_PER_SECOND - leanSummary.postsPerSecond.median)} posts/s`;
  const text = [
    `Pushline gateway benchmark, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} CPUs`,
    `${CONNECTIONS} WebSocket clients on 127.0.0.1 and ${SIMULATED} simulated connections, ${CONCURRENCY} posts in flight, ${BODY_BYTES}-byte bodies, ${ROUNDS} rounds (lean and simulated ${LEAN_POSTS} posts, SDK ${SDK_POSTS} posts each).`,
    `Posts/s count frames received by the clients from the first post to the last frame (for simulated connections, the`,
    `gateway's counts, to the last answer). CPU is per accepted post: the gateway's process, and this one (posting and`,
    `receiving). The gateway-bound figure is 1,000,000 / its CPU µs per post. Load average before ${load(machine.loadBefore)}, after ${load(machine.loadAfter)}.`,
    `Target: the lean client ≥ ${fmt(TARGET_POSTS_PER_SECOND)} posts/s (median): ${verdict}.`,
    '',
    '| series | posts/s median | range | gateway CPU µs/post | gateway-bound posts/s (1 core) | client CPU µs/post | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...summaries.map(
      (s) =>
        `| ${SERIES_NAMES[s.series]} | ${fmt(s.postsPerSecond.median)} | ${fmt(s.postsPerSecond.min)}–${fmt(s.postsPerSecond.max)} | ${s.gatewayCpuUsPerPost.toFixed(1)} | ${fmt(s.gatewayBoundPostsPerSecond)} | ${s.clientCpuUsPerPost.toFixed(1)} | ${s.errors} |`,
    ),
    '',
  ].join('\n');
  console.log(`\n${text}`);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, 'gateway.md'), text);
  const json = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAverage: machine,
    settings: {
      connections: CONNECTIONS,
      concurrency: CONCURRENCY,
      rounds: ROUNDS,
      leanPosts: LEAN_POSTS,
      sdkPosts: SDK_POSTS,
      simulatedConnections: SIMULATED,
      bodyBytes: BODY_BYTES,
    },
    target: { leanPostsPerSecond: TARGET_POSTS_PER_SECOND, verdict },
    summaries,
    runs,
  };
  await writeFile(join(RESULTS_DIR, 'gateway.json'), `${JSON.stringify(json, null, 2)}\n`);
  progress('written to bench/results/gateway.json and gateway.md');
}

/** A JSON frame of exactly `bytes` bytes (at least the envelope's own length). */
function benchBody(bytes: number): string {
  const envelope = '{"kind":"message","type":"bench","data":""}';
  return envelope.replace('""', `"${'x'.repeat(Math.max(0, bytes - envelope.length))}"`);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function fmt(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what} after ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

await main();
