/**
 * `npm run bench:broadcast`: one broadcast (`to: { all: true }`) to 100,000 connections on the local
 * stack, reached exactly once, split across fan-out invocations, under the configured posts/s cap.
 *
 * The connections are simulated (docs/local-runtime.md, "Simulated connections"): ids the local
 * gateway accepts posts for and counts, with the rows `$connect` writes for each (connection row and
 * broadcast row, functions/adapters/connection-store.ts `connectionRows`) seeded with BatchWriteItem.
 * The stack is synthesized with the fan-out settings as CDK context (fanoutMaxPostsPerSecond,
 * fanoutConcurrency, fanoutConnectionsPerInvocation), so the fan-out function paces itself exactly
 * as it would on AWS. The gateway's post count is sampled every SAMPLE_MS: posts per second, and
 * the highest count in any 1-s window, are read from those samples. Baseline, same run: the
 * project's own management API poster (functions/adapters/management-api.ts) posting straight to
 * the same simulated ids from this process, unpaced, with as many posts in flight as the fan-out
 * may have (invocations × their post concurrency): the local runtime's ceiling.
 *
 * Options (environment): BENCH_BROADCAST_CONNECTIONS (100000), BENCH_BROADCAST_CAP (2000 posts/s,
 * the infra default), BENCH_BROADCAST_INVOCATIONS (4, the fan-out's reserved concurrency),
 * BENCH_BROADCAST_PER_INVOCATION (5000 connections), BENCH_BROADCAST_BASELINE_POSTS (30000),
 * BENCH_BROADCAST_WRITERS (8 BatchWriteItem requests in flight), BENCH_BROADCAST_LIMIT_S (180 s for
 * the broadcast to arrive). PUSHLINE_DYNAMO picks the table engine.
 * Progress goes to stderr; the table and target lines to stdout and bench/results/broadcast.{json,svg}.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SNSClient } from '@aws-sdk/client-sns';
import { mapBounded } from '../functions/domain/fan-out.ts';
import { DEFAULT_CONNECTION_TTL_SECONDS } from '../functions/shared/table-schema.ts';
import { AUDIENCE_SHARDS, shardOf } from '../functions/shared/topics.ts';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import { Publisher } from '../publisher/index.ts';
import { intEnv } from './env.ts';
import { type ChartSeries, lineChart } from './svg-chart.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(HERE, 'results');

const CONNECTIONS = intEnv('BENCH_BROADCAST_CONNECTIONS', 100_000, 200_000);
const CAP = intEnv('BENCH_BROADCAST_CAP', 2_000, 10_000);
const INVOCATIONS = intEnv('BENCH_BROADCAST_INVOCATIONS', 4, 64);
const PER_INVOCATION = intEnv('BENCH_BROADCAST_PER_INVOCATION', 5_000, 200_000);
const BASELINE_POSTS = intEnv('BENCH_BROADCAST_BASELINE_POSTS', 30_000, 200_000);
const WRITERS = intEnv('BENCH_BROADCAST_WRITERS', 8, 64);
const LIMIT_MS = intEnv('BENCH_BROADCAST_LIMIT_S', 180, 600) * 1000;
/** Posts one fan-out invocation keeps in flight (the stack's deliveryConcurrency; the function's default). */
const POST_CONCURRENCY = 32;
/** Connections per user: each user holds two (a phone and a browser). */
const DEVICES = 2;
/** How often the gateway's post count is read. */
const SAMPLE_MS = 100;
const PROGRESS_MS = 3_000;
/** BatchWriteItem takes at most 25 items; unprocessed ones are sent again at most this often. */
const BATCH_ITEMS = 25;
const BATCH_ATTEMPTS = 8;
/** After the last expected post: how long to wait for the stack to go idle (late duplicates would show). */
const SETTLE_MS = 30_000;
const BENCH_LIMIT_MS = 10 * 60_000;

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const progress = (line: string) => process.stderr.write(`${line}\n`);
const fmt = (value: number) => Math.round(value).toLocaleString('en-US');
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The gateway's running post count, read every SAMPLE_MS: [ms since start, posts]. */
class PostSampler {
  readonly samples: [number, number][] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #start = performance.now();

  constructor(private readonly read: () => number) {
    this.samples.push([0, read()]);
    this.#timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  sample(): number {
    const posts = this.read();
    this.samples.push([performance.now() - this.#start, posts]);
    return posts;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }
}

/** Posts per whole second since the start, and the most posts in any 1-s window between samples. */
function rates(samples: readonly [number, number][]): { perSecond: [number, number][]; peak: number } {
  const base = samples[0]?.[1] ?? 0;
  const at = (ms: number): number => {
    // Posts counted by `ms`, interpolated between the samples around it.
    let previous = samples[0] ?? [0, base];
    for (const sample of samples) {
      if (sample[0] >= ms) {
        const span = sample[0] - previous[0];
        return span <= 0 ? sample[1] : previous[1] + ((sample[1] - previous[1]) * (ms - previous[0])) / span;
      }
      previous = sample;
    }
    return previous[1];
  };
  const end = samples.at(-1)?.[0] ?? 0;
  const perSecond: [number, number][] = [];
  for (let second = 0; second * 1000 < end; second++) {
    perSecond.push([second + 1, at((second + 1) * 1000) - at(second * 1000)]);
  }
  // Windows of 1 s starting at each sample: samples are SAMPLE_MS apart, so a burst is not missed by much.
  let peak = 0;
  let j = 0;
  for (const [ms, posts] of samples) {
    while (j < samples.length && (samples[j] as [number, number])[0] <= ms + 1000) j++;
    const last = samples[j - 1] as [number, number];
    if (last[0] - ms >= 1000 - SAMPLE_MS) peak = Math.max(peak, last[1] - posts);
  }
  if (end < 1000) peak = Math.max(peak, (samples.at(-1)?.[1] ?? base) - base);
  return { perSecond, peak };
}

/** Writes every connection's two rows, WRITERS BatchWriteItem requests in flight. */
async function seedRows(
  stack: LocalStack,
  ids: readonly string[],
): Promise<{ items: number; requests: number; seconds: number }> {
  const { connectionRows } = await import('../functions/adapters/connection-store.ts');
  const { dynamo } = await import('../functions/adapters/dynamo-client.ts');
  const { BatchWriteCommand } = await import('@aws-sdk/lib-dynamodb');
  const tableName = stack.outputs.TableName;
  const now = Date.now();
  const rows = ids.flatMap((connectionId, i) =>
    connectionRows({
      userId: `bench-user-${Math.floor(i / DEVICES)}`,
      connectionId,
      connectedAt: now,
      sourceIp: '127.0.0.1',
      userAgent: 'bench/broadcast',
      expiresAt: Math.floor(now / 1000) + DEFAULT_CONNECTION_TTL_SECONDS,
    }),
  );
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < rows.length; i += BATCH_ITEMS) batches.push(rows.slice(i, i + BATCH_ITEMS));
  const start = performance.now();
  let written = 0;
  let requests = 0;
  const ticker = setInterval(() => {
    const seconds = (performance.now() - start) / 1000;
    progress(
      `  rows: ${fmt(written)} of ${fmt(rows.length)} written, ${fmt(written / seconds)} items/s, ${seconds.toFixed(0)} s`,
    );
  }, PROGRESS_MS);
  try {
    await mapBounded(
      batches,
      async (batch) => {
        let pending = batch.map((Item) => ({ PutRequest: { Item } }));
        for (let attempt = 1; pending.length > 0; attempt++) {
          if (attempt > BATCH_ATTEMPTS)
            throw new Error(`${pending.length} rows unprocessed after ${BATCH_ATTEMPTS} attempts`);
          requests++;
          const output = await dynamo.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
          const unprocessed = (output.UnprocessedItems?.[tableName] ?? []) as typeof pending;
          written += pending.length - unprocessed.length;
          pending = unprocessed;
          if (pending.length > 0) await delay(20 * attempt);
        }
      },
      WRITERS,
    );
  } finally {
    clearInterval(ticker);
  }
  return { items: written, requests, seconds: (performance.now() - start) / 1000 };
}

/** Raw posting: the project's poster, unpaced, to the first `posts` ids, `inFlight` at a time. */
async function baseline(
  stack: LocalStack,
  ids: readonly string[],
  posts: number,
  inFlight: number,
): Promise<{
  posts: number;
  failed: number;
  seconds: number;
  postsPerSecond: number;
  peak: number;
  perSecond: [number, number][];
}> {
  const { createConnectionPoster } = await import('../functions/adapters/management-api.ts');
  const poster = createConnectionPoster(stack.outputs.CallbackUrl, { maxSockets: inFlight, client: 'http' });
  const frame = JSON.stringify({ kind: 'message', type: 'bench.baseline', data: { n: 0 } });
  const targets = ids.slice(0, posts);
  const sampler = new PostSampler(() => stack.simulatedConnections.stats().posts);
  const start = performance.now();
  let failed = 0;
  let done = 0;
  const ticker = setInterval(
    () => progress(`  baseline: ${fmt(done)} of ${fmt(targets.length)} posts`),
    PROGRESS_MS,
  );
  try {
    await mapBounded(
      targets,
      async (id) => {
        if (performance.now() - start > LIMIT_MS) return;
        const outcome = await poster.post(id, frame).catch(() => 'failed' as const);
        if (outcome !== 'delivered') failed++;
        done++;
      },
      inFlight,
    );
  } finally {
    clearInterval(ticker);
    sampler.stop();
  }
  const seconds = (performance.now() - start) / 1000;
  const counted = (sampler.samples.at(-1)?.[1] ?? 0) - (sampler.samples[0]?.[1] ?? 0);
  const { perSecond, peak } = rates(sampler.samples);
  return { posts: counted, failed, seconds, postsPerSecond: counted / seconds, peak, perSecond };
}

/** A fan-out part's log line, as functions/fanout.ts writes it. */
interface PartLog {
  readonly shard: number;
  readonly delivered: number;
  readonly handedOn: boolean;
  readonly duplicate: boolean;
}

async function main(): Promise<void> {
  const benchDeadline = setTimeout(() => {
    progress(`bench:broadcast gave up after ${BENCH_LIMIT_MS / 60_000} minutes`);
    process.exit(1);
  }, BENCH_LIMIT_MS);
  benchDeadline.unref();
  const loadBefore = loadavg();
  const benchStart = performance.now();
  progress(
    `bench:broadcast: ${fmt(CONNECTIONS)} simulated connections, cap ${fmt(CAP)} posts/s over ${INVOCATIONS} fan-out invocations at a time (${fmt(Math.floor(CAP / INVOCATIONS))} posts/s each), ${fmt(PER_INVOCATION)} connections per invocation`,
  );
  const parts: PartLog[] = [];
  const stack = await startLocalStack({
    console: false,
    deliveryConcurrency: POST_CONCURRENCY,
    context: {
      fanoutMaxPostsPerSecond: String(CAP),
      fanoutConcurrency: String(INVOCATIONS),
      fanoutConnectionsPerInvocation: String(PER_INVOCATION),
    },
    // Not quiet: the fan-out function's "Fan-out part" lines say what each invocation posted.
    log: (line) => {
      if (line.includes('"Fan-out part"')) {
        const json = line.slice(line.indexOf('{'));
        try {
          parts.push(JSON.parse(json) as PartLog);
        } catch {
          progress(`  unreadable fan-out log line: ${line.slice(0, 200)}`);
        }
      } else if (/"level":"(WARN|ERROR)"|error/i.test(line)) progress(`  ${line.slice(0, 300)}`);
    },
  });
  try {
    // The project's stores and poster read the SDK's standard variables, as in a function.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: stack.outputs.AwsEndpointUrl,
      AWS_REGION: stack.outputs.Region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    const engine = stack.outputs.DynamoDbEngine;
    const ids = stack.simulatedConnections.create(CONNECTIONS);
    progress(`stack up (${engine}), ${fmt(ids.length)} simulated ids registered; writing their rows`);
    const seed = await seedRows(stack, ids);
    progress(
      `  ${fmt(seed.items)} rows in ${seed.seconds.toFixed(1)} s (${fmt(seed.items / seed.seconds)} items/s)`,
    );

    const inFlight = INVOCATIONS * POST_CONCURRENCY;
    progress(
      `baseline: raw posts to ${fmt(Math.min(BASELINE_POSTS, ids.length))} of the ids, ${inFlight} in flight, no cap`,
    );
    const raw = await baseline(stack, ids, BASELINE_POSTS, inFlight);
    progress(`  baseline: ${fmt(raw.postsPerSecond)} posts/s (peak 1-s window ${fmt(raw.peak)})`);
    // Fresh counts for the broadcast: the same ids, every count back to 0.
    stack.simulatedConnections.clear();
    stack.simulatedConnections.add(ids);

    const publisher = new Publisher({
      topicArn: stack.outputs.TopicArn,
      client: new SNSClient({
        endpoint: stack.outputs.AwsEndpointUrl,
        region: stack.outputs.Region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    });
    const fanoutBefore = stack.functionStats('fanout');
    const deliverBefore = stack.functionStats('deliver');
    progress(
      `broadcast: publishing to everyone, waiting up to ${LIMIT_MS / 1000} s for ${fmt(ids.length)} posts`,
    );
    const sampler = new PostSampler(() => stack.simulatedConnections.stats().posts);
    const publishedAt = performance.now();
    await publisher.publish({
      to: { all: true },
      type: 'bench.broadcast',
      data: { at: Date.now() },
      persist: false,
    });
    let lastPostAt = publishedAt;
    let lastCount = 0;
    let lastProgress = publishedAt;
    let lastProgressCount = 0;
    for (;;) {
      const now = performance.now();
      const posts = sampler.samples.at(-1)?.[1] ?? 0;
      if (posts > lastCount) {
        lastCount = posts;
        lastPostAt = sampler.samples.at(-1)?.[0] ?? now;
      }
      if (now - lastProgress >= PROGRESS_MS) {
        const invocations = stack.functionStats('fanout').invocations - fanoutBefore.invocations;
        progress(
          `  ${((now - publishedAt) / 1000).toFixed(0)} s: ${fmt(posts)} posts, ${fmt(((posts - lastProgressCount) * 1000) / (now - lastProgress))} posts/s, ${invocations} fan-out invocations`,
        );
        lastProgress = now;
        lastProgressCount = posts;
      }
      if (posts >= ids.length || now - publishedAt > LIMIT_MS) break;
      await delay(SAMPLE_MS);
    }
    // Wait until nothing is pending (every part handed on has run): a duplicate would show here.
    await stack
      .idle(SETTLE_MS)
      .catch((error: unknown) => progress(`  not idle: ${(error as Error).message}`));
    sampler.stop();
    const final = stack.simulatedConnections.stats(true);
    if (final.posts > lastCount) lastPostAt = sampler.samples.at(-1)?.[0] ?? lastPostAt;
    const fanoutAfter = stack.functionStats('fanout');
    const deliverAfter = stack.functionStats('deliver');
    // Samples are relative to the sampler's start, which is the publish time within a millisecond.
    const seconds = lastPostAt / 1000;
    const { perSecond, peak } = rates(sampler.samples);
    let missed = 0;
    let once = 0;
    let twice = 0;
    for (const id of ids) {
      const count = final.counts?.[id] ?? 0;
      if (count === 0) missed++;
      else if (count === 1) once++;
      else twice++;
    }
    const shardSizes = Array.from({ length: AUDIENCE_SHARDS }, () => 0);
    for (const id of ids) shardSizes[shardOf(id)] = (shardSizes[shardOf(id)] ?? 0) + 1;
    const fewestInvocations = shardSizes.reduce(
      (sum, size) => sum + Math.max(1, Math.ceil(size / PER_INVOCATION)),
      0,
    );
    const result = {
      benchmark: 'broadcast',
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      loadAverage: { before: loadBefore, after: loadavg() },
      engine,
      settings: {
        connections: CONNECTIONS,
        capPostsPerSecond: CAP,
        invocationsAtOnce: INVOCATIONS,
        postsPerSecondPerInvocation: Math.max(1, Math.floor(CAP / INVOCATIONS)),
        connectionsPerInvocation: PER_INVOCATION,
        postConcurrency: POST_CONCURRENCY,
        shards: AUDIENCE_SHARDS,
        sampleMs: SAMPLE_MS,
      },
      seed: { ...seed, itemsPerSecond: seed.items / seed.seconds, writers: WRITERS },
      baseline: { ...raw, inFlight },
      broadcast: {
        posts: final.posts,
        connections: ids.length,
        once,
        missed,
        moreThanOnce: twice,
        histogram: final.histogram,
        seconds,
        postsPerSecond: final.posts / Math.max(seconds, 1e-3),
        peakOneSecondWindow: peak,
        fanout: {
          invocations: fanoutAfter.invocations - fanoutBefore.invocations,
          errors: fanoutAfter.errors - fanoutBefore.errors,
          coldStarts: fanoutAfter.coldStarts - fanoutBefore.coldStarts,
          cpuMs: fanoutAfter.cpuMs - fanoutBefore.cpuMs,
          fewestPossible: fewestInvocations,
          partsLogged: parts.length,
          mostDeliveredByOne: Math.max(0, ...parts.map((part) => part.delivered)),
          handedOn: parts.filter((part) => part.handedOn).length,
          duplicates: parts.filter((part) => part.duplicate).length,
        },
        deliverInvocations: deliverAfter.invocations - deliverBefore.invocations,
        shardSizes,
        perSecond,
      },
      benchSeconds: (performance.now() - benchStart) / 1000,
    };
    await report(result);
  } finally {
    await stack.stop();
  }
}

type Result = {
  readonly engine: string;
  readonly settings: {
    readonly connections: number;
    readonly capPostsPerSecond: number;
    readonly invocationsAtOnce: number;
    readonly postsPerSecondPerInvocation: number;
    readonly connectionsPerInvocation: number;
  };
  readonly seed: {
    readonly items: number;
    readonly requests: number;
    readonly seconds: number;
    readonly itemsPerSecond: number;
    readonly writers: number;
  };
  readonly baseline: {
    readonly posts: number;
    readonly failed: number;
    readonly seconds: number;
    readonly postsPerSecond: number;
    readonly peak: number;
    readonly perSecond: [number, number][];
    readonly inFlight: number;
  };
  readonly broadcast: {
    readonly posts: number;
    readonly connections: number;
    readonly once: number;
    readonly missed: number;
    readonly moreThanOnce: number;
    readonly seconds: number;
    readonly postsPerSecond: number;
    readonly peakOneSecondWindow: number;
    readonly fanout: {
      readonly invocations: number;
      readonly errors: number;
      readonly fewestPossible: number;
      readonly mostDeliveredByOne: number;
      readonly handedOn: number;
      readonly duplicates: number;
      readonly cpuMs: number;
    };
    readonly deliverInvocations: number;
    readonly perSecond: [number, number][];
  };
  readonly loadAverage: { readonly before: number[]; readonly after: number[] };
  readonly benchSeconds: number;
};

async function report(result: Result): Promise<void> {
  const { settings, seed, baseline: raw, broadcast: b } = result;
  const f = b.fanout;
  const load = (values: number[]) => values.map((v) => v.toFixed(1)).join(' ');
  const reached = b.once === b.connections && b.missed === 0 && b.moreThanOnce === 0;
  const split = f.invocations > 1 && f.mostDeliveredByOne <= settings.connectionsPerInvocation;
  const underCap = b.peakOneSecondWindow <= settings.capPostsPerSecond;
  const text = [
    `Pushline broadcast benchmark, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} CPUs, table ${result.engine}; load average before ${load(result.loadAverage.before)}, after ${load(result.loadAverage.after)}`,
    `${fmt(settings.connections)} simulated connections (the gateway counts posts; rows as $connect writes them), ${settings.connections / DEVICES} users x ${DEVICES}.`,
    `Fan-out settings: cap ${fmt(settings.capPostsPerSecond)} posts/s = ${settings.invocationsAtOnce} invocations at once x ${fmt(settings.postsPerSecondPerInvocation)} posts/s, ${fmt(settings.connectionsPerInvocation)} connections per invocation, ${POST_CONCURRENCY} posts in flight each.`,
    `Posts/s from the gateway's count sampled every ${SAMPLE_MS} ms; time is publish -> last post. Baseline: the project's http poster from this process, ${raw.inFlight} in flight, no cap.`,
    `Rows seeded: ${fmt(seed.items)} items in ${seed.seconds.toFixed(1)} s (${fmt(seed.itemsPerSecond)} items/s, ${fmt(seed.requests)} BatchWriteItem requests, ${seed.writers} in flight).`,
    '',
    '| run | posts | reached once / missed / more | seconds | posts/s | peak 1-s window | fan-out invocations | most posts by one |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    `| baseline: raw posts, no cap | ${fmt(raw.posts)} | - | ${raw.seconds.toFixed(1)} | ${fmt(raw.postsPerSecond)} | ${fmt(raw.peak)} | - | - |`,
    `| Pushline broadcast, cap ${fmt(settings.capPostsPerSecond)}/s | ${fmt(b.posts)} | ${fmt(b.once)} / ${fmt(b.missed)} / ${fmt(b.moreThanOnce)} | ${b.seconds.toFixed(1)} | ${fmt(b.postsPerSecond)} | ${fmt(b.peakOneSecondWindow)} | ${f.invocations} (fewest possible ${f.fewestPossible}; ${f.errors} errors) | ${fmt(f.mostDeliveredByOne)} |`,
    '',
    `Target: ${fmt(b.connections)} connections reached exactly once: ${reached ? 'met' : 'missed'} (${fmt(b.once)} x 1, ${fmt(b.missed)} missed, ${fmt(b.moreThanOnce)} more than once).`,
    `Target: split across invocations: ${split ? 'met' : 'missed'} (${f.invocations} fan-out invocations, ${f.handedOn} handed the rest of their shard on, at most ${fmt(f.mostDeliveredByOne)} posts by one of ${fmt(settings.connectionsPerInvocation)} allowed; ${f.duplicates} duplicate parts; ${b.deliverInvocations} deliver invocation).`,
    `Target: under the posts/s cap ${fmt(settings.capPostsPerSecond)}: ${underCap ? 'met' : `missed by ${fmt(b.peakOneSecondWindow - settings.capPostsPerSecond)}`} (peak 1-s window ${fmt(b.peakOneSecondWindow)}; overall ${fmt(b.postsPerSecond)} posts/s = ${((b.postsPerSecond / settings.capPostsPerSecond) * 100).toFixed(0)} % of the cap; raw posting baseline ${fmt(raw.postsPerSecond)} posts/s).`,
    `Broadcast time: ${b.seconds.toFixed(1)} s publish -> last post (${fmt(settings.connections)} / cap = ${(settings.connections / settings.capPostsPerSecond).toFixed(1)} s at best); fan-out CPU ${(f.cpuMs / Math.max(1, b.posts)).toFixed(3)} ms per post.`,
    '',
  ].join('\n');
  console.log(`\n${text}`);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, 'broadcast.json'), `${JSON.stringify(result, null, 2)}\n`);
  const duration = Math.max(b.perSecond.length, raw.perSecond.length, 1);
  const step = Math.max(5, Math.ceil(duration / 10 / 5) * 5);
  const series: ChartSeries[] = [
    { name: 'broadcast posts/s', points: b.perSecond, color: '#3b6fb6', markers: false },
    { name: 'raw posting (baseline)', points: raw.perSecond, color: '#e08a2c', markers: false },
    {
      name: `cap ${fmt(settings.capPostsPerSecond)}/s`,
      points: [
        [0, settings.capPostsPerSecond],
        [duration, settings.capPostsPerSecond],
      ],
      color: '#b2463f',
      dashed: true,
      markers: false,
    },
  ];
  await writeFile(
    join(RESULTS_DIR, 'broadcast.svg'),
    lineChart({
      title: `Broadcast to ${fmt(settings.connections)} connections: posts per second`,
      subtitle: `${result.engine}, ${settings.invocationsAtOnce} fan-out invocations at once, ${b.seconds.toFixed(1)} s, ${f.invocations} invocations`,
      xLabel: 'seconds since publish (baseline: since its first post)',
      yLabel: 'posts per second',
      xTicks: Array.from({ length: Math.floor(duration / step) + 1 }, (_, i) => i * step),
      series,
    }),
  );
  progress(
    `written to bench/results/broadcast.json and broadcast.svg (whole run ${result.benchSeconds.toFixed(0)} s)`,
  );
}

await main();
