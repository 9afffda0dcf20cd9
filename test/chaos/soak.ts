/**
 * `npm run soak`: many connections held for a long time on the local stack, with steady
 * publishing, to show what drifts: errors, latency, memory. 2,000 WebSocket connections (1,000
 * users × 2 devices) by default, held 10 minutes, while unicast stored messages are published at
 * a steady rate to random users; every connection pings now and then, as the SDK's heartbeat does.
 * Each minute it records publish → receive p50/p99, messages missing or repeated, connections
 * lost, and the process's memory (the local stack and the clients share this process, so the
 * figure is an upper bound for the stack).
 *
 * Options (environment): SOAK_CONNECTIONS (2000, even), SOAK_MINUTES (10), SOAK_RATE (messages/s,
 * 20). Loopback only; bounded by SOAK_MINUTES plus a 2-minute drain. Writes bench/results/soak.json
 * and soak.svg. Exits 1 when a message was lost or a connection dropped.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { intEnv, machineFacts } from '../../bench/env.ts';
import { nearestRank } from '../../bench/plot.ts';
import { lineChart } from '../../bench/svg-chart.ts';
import { mapBounded } from '../../functions/domain/fan-out.ts';
import { startTarget } from '../support/target.ts';
import type { TestSocket } from '../support/ws-client.ts';

const CONNECTIONS = intEnv('SOAK_CONNECTIONS', 2_000);
const MINUTES = intEnv('SOAK_MINUTES', 10, 120);
const RATE = intEnv('SOAK_RATE', 20, 500);
const PING_EVERY_MS = 240_000;
const DRAIN_MS = 120_000;
if (CONNECTIONS % 2 !== 0) throw new Error('SOAK_CONNECTIONS must be even (two devices a user)');
const USERS = CONNECTIONS / 2;

interface Minute {
  readonly minute: number;
  published: number;
  received: number;
  latencies: number[];
  publishErrors: number;
}

interface MinuteReport {
  readonly minute: number;
  readonly published: number;
  readonly received: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly publishErrors: number;
  readonly openConnections: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
}

const log = (text: string) => process.stderr.write(`[soak] ${text}\n`);
const run = `soak-${Date.now().toString(36)}`;
const target = await startTarget({});
const started = Date.now();
/** Minutes count from the start of publishing (set then). */
let soakStart = started;
const minutes: Minute[] = [];
const minuteOf = (at: number): Minute => {
  const index = Math.max(0, Math.floor((at - soakStart) / 60_000));
  for (let m = minutes.length; m <= index; m++)
    minutes.push({ minute: m + 1, published: 0, received: 0, latencies: [], publishErrors: 0 });
  return minutes[index] as Minute;
};
const reports: MinuteReport[] = [];
/** Per message id: when it was published and how many copies each device got. */
const sent = new Map<string, { at: number; user: number }>();
const copies = new Map<string, number>(); // `${connection}/${id}` → copies
let sockets: TestSocket[] = [];

try {
  log(`connecting ${CONNECTIONS} connections (${USERS} users × 2 devices)`);
  let connected = 0;
  sockets = await mapBounded(
    Array.from({ length: CONNECTIONS }, (_, i) => i),
    async (i) => {
      const socket = await target.connect(`${run}-u${Math.floor(i / 2)}`);
      if (++connected % 200 === 0) log(`${connected} connected`);
      return socket;
    },
    32,
  );
  const connectedIn = Date.now() - started;
  log(`all connected in ${(connectedIn / 1000).toFixed(1)} s; publishing ${RATE}/s for ${MINUTES} min`);
  sockets.forEach((socket, index) => {
    socket.socket.on('message', (data) => {
      let frame: { kind?: string; id?: string };
      try {
        frame = JSON.parse(data.toString()) as { kind?: string; id?: string };
      } catch {
        return;
      }
      if (frame.kind !== 'message' || frame.id === undefined) return;
      const key = `${index}/${frame.id}`;
      copies.set(key, (copies.get(key) ?? 0) + 1);
      const origin = sent.get(frame.id);
      if (origin !== undefined && copies.get(key) === 1) {
        const minute = minuteOf(origin.at);
        minute.received++;
        minute.latencies.push(Date.now() - origin.at);
      }
    });
  });

  soakStart = Date.now();
  const soakEnd = soakStart + MINUTES * 60_000;
  const pinger = setInterval(() => {
    // Spread over the interval: a slice of the connections each second.
    const slice = Math.ceil(sockets.length / (PING_EVERY_MS / 1000));
    const offset = Math.floor(((Date.now() - soakStart) / 1000) % (PING_EVERY_MS / 1000)) * slice;
    for (const socket of sockets.slice(offset, offset + slice))
      if (socket.socket.readyState === socket.socket.OPEN) socket.send({ action: 'ping' });
  }, 1_000);
  let sample = 0;
  const sampler = setInterval(() => {
    sample++;
    const memory = process.memoryUsage();
    const open = sockets.filter((socket) => socket.socket.readyState === socket.socket.OPEN).length;
    const minute = minutes[sample - 1] ?? minuteOf(Date.now() - 1);
    const sorted = [...minute.latencies].sort((a, b) => a - b);
    const report: MinuteReport = {
      minute: minute.minute,
      published: minute.published,
      received: minute.received,
      p50Ms: nearestRank(sorted, 0.5),
      p99Ms: nearestRank(sorted, 0.99),
      publishErrors: minute.publishErrors,
      openConnections: open,
      rssMb: Math.round(memory.rss / 2 ** 20),
      heapUsedMb: Math.round(memory.heapUsed / 2 ** 20),
    };
    reports.push(report);
    log(
      `minute ${report.minute}: ${report.published} published, p50 ${report.p50Ms} ms, p99 ${report.p99Ms} ms, ${open} open, rss ${report.rssMb} MB, heap ${report.heapUsedMb} MB`,
    );
  }, 60_000);

  // Steady publishing: one message every 1/RATE s, at most 64 publish calls in flight.
  let index = 0;
  let inFlight = 0;
  while (Date.now() < soakEnd) {
    const due = soakStart + (index * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (inFlight >= 64) {
      minuteOf(Date.now()).publishErrors++; // The stack fell behind: counted, not queued.
      index++;
      continue;
    }
    const id = `${run}-m${index}`;
    const user = Math.floor(Math.random() * USERS);
    const at = Date.now();
    sent.set(id, { at, user });
    minuteOf(at).published++;
    inFlight++;
    target
      .publish({ v: 1, id, to: { users: [`${run}-u${user}`] }, type: 'soak', data: { at } })
      .catch(() => {
        minuteOf(at).publishErrors++;
        sent.delete(id);
      })
      .finally(() => {
        inFlight--;
      });
    index++;
  }
  log('publishing done; draining');
  const drainEnd = Date.now() + DRAIN_MS;
  const expectedCopies = () => sent.size * 2;
  while (copies.size < expectedCopies() && Date.now() < drainEnd)
    await new Promise((resolve) => setTimeout(resolve, 500));
  clearInterval(pinger);
  clearInterval(sampler);

  let missing = 0;
  let repeated = 0;
  for (const [id, { user }] of sent)
    for (const device of [user * 2, user * 2 + 1]) {
      const got = copies.get(`${device}/${id}`) ?? 0;
      if (got === 0) missing++;
      if (got > 1) repeated++;
    }
  const open = sockets.filter((socket) => socket.socket.readyState === socket.socket.OPEN).length;
  const all = minutes.flatMap((minute) => minute.latencies).sort((a, b) => a - b);
  const summary = {
    connections: CONNECTIONS,
    minutes: MINUTES,
    ratePerSecond: RATE,
    connectSeconds: Math.round(connectedIn / 100) / 10,
    published: sent.size,
    deliveriesExpected: sent.size * 2,
    missing,
    repeated,
    publishErrors: minutes.reduce((sum, minute) => sum + minute.publishErrors, 0),
    connectionsLost: CONNECTIONS - open,
    p50Ms: nearestRank(all, 0.5),
    p99Ms: nearestRank(all, 0.99),
    maxMs: all.at(-1) ?? Number.NaN,
    rssMbFirst: reports[0]?.rssMb,
    rssMbLast: reports.at(-1)?.rssMb,
    heapUsedMbFirst: reports[0]?.heapUsedMb,
    heapUsedMbLast: reports.at(-1)?.heapUsedMb,
  };
  process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(
    'bench/results/soak.json',
    `${JSON.stringify({ ...machineFacts(), summary, perMinute: reports }, null, 2)}\n`,
  );
  await writeFile('bench/results/soak.svg', soakChart(reports));
  process.stdout.write('written to bench/results/soak.json and soak.svg\n');
  if (missing > 0 || summary.connectionsLost > 0) process.exitCode = 1;
} finally {
  await Promise.all(sockets.map((socket) => socket.close()));
  await target.stop();
}

function soakChart(perMinute: readonly MinuteReport[]): string {
  const xTicks = perMinute.map((report) => report.minute);
  return lineChart({
    title: `Soak: ${CONNECTIONS.toLocaleString('en-US')} connections, ${RATE} messages/s, ${MINUTES} minutes`,
    subtitle: 'per minute: publish → receive latency (ms) and this process’s memory (MB)',
    xLabel: 'minute',
    yLabel: 'ms / MB',
    xTicks,
    series: [
      { name: 'p50 ms', color: '#1f77b4', points: perMinute.map((r) => [r.minute, r.p50Ms] as const) },
      { name: 'p99 ms', color: '#d62728', points: perMinute.map((r) => [r.minute, r.p99Ms] as const) },
      {
        name: 'RSS MB',
        color: '#2ca02c',
        dashed: true,
        points: perMinute.map((r) => [r.minute, r.rssMb] as const),
      },
      {
        name: 'heap used MB',
        color: '#9467bd',
        dashed: true,
        points: perMinute.map((r) => [r.minute, r.heapUsedMb] as const),
      },
    ],
  });
}
