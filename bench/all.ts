/**
 * `npm run bench`: every benchmark, one after the other (never two at once: each measures CPU and
 * latency on the same machine), with progress while they run and, at the end, one table of what
 * each run printed about its targets.
 *
 * Usage: `npm run bench` (all), `npm run bench -- gateway fanout` (some, in the order given),
 * `npm run bench -- --skip peer`, `npm run bench -- --list`. Each sub-run is also a script of its
 * own (`npm run bench:<name>`), with its options in the environment, which this passes on.
 * Each writes its JSON (and plots) under bench/results/; this writes bench/results/summary.{json,md}.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(HERE, 'results');

interface SubRun {
  readonly name: string;
  readonly script: string;
  readonly what: string;
  /** A program the run needs on PATH; without it the run is skipped, and the summary says why. */
  readonly needs?: string;
}

/** In the order `npm run bench` runs them: the local runtime's ceiling first, the peer last. */
const SUB_RUNS: readonly SubRun[] = [
  { name: 'gateway', script: 'gateway.ts', what: 'posts/s the local gateway serves' },
  { name: 'fanout', script: 'fanout.ts', what: 'push path throughput and latency beside raw posting' },
  { name: 'cpu', script: 'deliver-cpu.ts', what: 'deliver CPU per delivery, each management client' },
  { name: 'cold', script: 'cold.ts', what: 'bundle sizes and cold module init' },
  { name: 'cost', script: 'table-cost.ts', what: 'table units per message, beside the previous design' },
  { name: 'latency', script: 'latency.ts', what: 'unicast publish → receive, one message at a time' },
  { name: 'overhead', script: 'overhead.ts', what: "Pushline's overhead over raw posting, same concurrency" },
  { name: 'broadcast', script: 'broadcast.ts', what: 'one broadcast to 100,000 simulated connections' },
  {
    name: 'costmodel',
    script: 'cost.ts',
    what: '$ per million deliveries at AWS prices, from the counted requests',
  },
  {
    name: 'peer',
    script: 'peer.ts',
    what: 'Socket.IO + Redis adapter at 1, 2, 4 nodes',
    needs: 'redis-server',
  },
];

/** A sub-run that has not ended by then is stopped (and reported as such). */
const SUB_RUN_LIMIT_MS = 20 * 60_000;

/** Lines of a sub-run's output that state a target or goal, collected for the summary. */
const TARGET_LINE = /^\s*(?:[-*]\s*)?(?:\*\*)?(target|goal)\b/i;

interface Outcome {
  readonly name: string;
  readonly status: 'passed' | 'failed' | 'skipped' | 'stopped';
  readonly seconds: number;
  readonly detail?: string;
  readonly targets: string[];
}

function parseArguments(argv: readonly string[]): readonly SubRun[] {
  const names: string[] = [];
  const skip = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h' || arg === '--list') {
      console.log('npm run bench [-- <name>… | --skip <name>]: the benchmarks, one after the other.\n');
      for (const run of SUB_RUNS)
        console.log(`  ${run.name.padEnd(10)} npm run bench:${run.name.padEnd(10)} ${run.what}`);
      process.exit(0);
    }
    if (arg === '--skip') {
      const name = argv[++i];
      if (name === undefined) fail('--skip needs a benchmark name');
      skip.add(name);
    } else if (arg.startsWith('-')) fail(`unknown option ${arg} (see --help)`);
    else names.push(arg);
  }
  for (const name of [...names, ...skip])
    if (!SUB_RUNS.some((run) => run.name === name))
      fail(`no benchmark named ${name}; there are: ${SUB_RUNS.map((run) => run.name).join(', ')}`);
  const chosen =
    names.length > 0 ? names.map((name) => SUB_RUNS.find((run) => run.name === name) as SubRun) : SUB_RUNS;
  return chosen.filter((run) => !skip.has(run.name));
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

const clock = (ms: number) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};

let current: ChildProcess | undefined;
let interrupted = false;

/** Runs one benchmark script, its output shown as it comes (stderr lines prefixed with progress). */
function runOne(run: SubRun, position: string): Promise<Outcome> {
  const started = Date.now();
  const prefix = () => `[${position} ${run.name} ${clock(Date.now() - started)}]`;
  const targets: string[] = [];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, run.script)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    current = child;
    let limited = false;
    const limit = setTimeout(() => {
      limited = true;
      child.kill('SIGINT');
    }, SUB_RUN_LIMIT_MS);
    child.once('exit', () => clearTimeout(limit));
    lines(child.stdout, (line) => {
      if (TARGET_LINE.test(line)) targets.push(line.trim());
      process.stdout.write(`${line}\n`);
    });
    lines(child.stderr, (line) => process.stderr.write(`${prefix()} ${line}\n`));
    child.once('error', (error) =>
      resolve({ name: run.name, status: 'failed', seconds: 0, detail: error.message, targets }),
    );
    child.once('close', (code, signal) => {
      current = undefined;
      const seconds = (Date.now() - started) / 1000;
      if (code === 0) resolve({ name: run.name, status: 'passed', seconds, targets });
      else if (limited || interrupted)
        resolve({
          name: run.name,
          status: 'stopped',
          seconds,
          detail: limited ? `over ${clock(SUB_RUN_LIMIT_MS)}` : 'interrupted',
          targets,
        });
      else
        resolve({
          name: run.name,
          status: 'failed',
          seconds,
          detail: `exit ${code ?? signal}`,
          targets,
        });
    });
  });
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) onLine(part);
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
  });
}

function summary(outcomes: readonly Outcome[], at: string): string {
  const out = [
    `Pushline benchmarks, ${at}: ${outcomes.length} runs, one after the other.`,
    '',
    '| run | status | time | results |',
    '|---|---|---:|---|',
  ];
  for (const o of outcomes)
    out.push(
      `| bench:${o.name} | ${o.status}${o.detail ? ` (${o.detail})` : ''} | ${clock(o.seconds * 1000)} | bench/results/ |`,
    );
  out.push('', 'Targets, as each run stated them:', '');
  for (const o of outcomes) {
    if (o.targets.length === 0) continue;
    for (const line of o.targets) out.push(`- bench:${o.name}: ${line.replace(/^[-*]\s*/, '')}`);
  }
  return out.join('\n');
}

async function main() {
  const runs = parseArguments(process.argv.slice(2));
  process.once('SIGINT', () => {
    interrupted = true;
    console.error('\nbench: stopping (Ctrl-C); the runs not started are skipped.');
    current?.kill('SIGINT');
  });
  const at = new Date().toISOString();
  const outcomes: Outcome[] = [];
  for (const [index, run] of runs.entries()) {
    const position = `${index + 1}/${runs.length}`;
    if (interrupted) {
      outcomes.push({ name: run.name, status: 'skipped', seconds: 0, detail: 'interrupted', targets: [] });
      continue;
    }
    if (run.needs !== undefined && !onPath(run.needs)) {
      console.error(`[${position} ${run.name}] skipped: needs ${run.needs} on PATH (see the README)`);
      outcomes.push({
        name: run.name,
        status: 'skipped',
        seconds: 0,
        detail: `needs ${run.needs}`,
        targets: [],
      });
      continue;
    }
    console.error(`[${position} ${run.name}] ${run.what}: npm run bench:${run.name}`);
    const outcome = await runOne(run, position);
    console.error(`[${position} ${run.name}] ${outcome.status} in ${clock(outcome.seconds * 1000)}`);
    outcomes.push(outcome);
  }
  const text = summary(outcomes, at);
  console.log(`\n${text}`);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, 'summary.md'), `${text}\n`);
  await writeFile(
    join(RESULTS_DIR, 'summary.json'),
    `${JSON.stringify({ at, node: process.version, runs: outcomes }, null, 2)}\n`,
  );
  console.log('written to bench/results/summary.json and summary.md');
  if (outcomes.some((o) => o.status === 'failed' || o.status === 'stopped')) process.exitCode = 1;
}

await main();
