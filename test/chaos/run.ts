/**
 * `npm run chaos`: the hostile-input and fault suite at full size, against the local stack (or a
 * deployed one with PUSHLINE_TARGET=external). Prints what it tried and what survived, and writes
 * `bench/results/chaos.json`. `test/integration/chaos.test.ts` runs the same parts, smaller, in
 * `npm test`.
 *
 * Options (environment): CHAOS_SEED (a fixed seed reproduces a run; default: the time),
 * CHAOS_FRAMES (10000), CHAOS_FRAME_CONNECTIONS (16), CHAOS_ENVELOPES (10000), CHAOS_ENVELOPE_USERS
 * (20), CHAOS_ISOLATION_USERS (50), CHAOS_ISOLATION_MESSAGES (1000), CHAOS_FAULT_USERS (100),
 * CHAOS_FAULT_MESSAGES (10000), CHAOS_ONLY (comma list of parts: tokens, frames, envelopes,
 * isolation, faults). Loopback only; every part is bounded in count and
 * time. Exits 1 when any part failed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { intEnv, machineFacts } from '../../bench/env.ts';
import { startTarget } from '../support/target.ts';
import { runCrossUser } from './cross-user.ts';
import { runEnvelopes } from './envelopes.ts';
import { runFaults } from './faults.ts';
import { runFrames } from './frames.ts';
import { formatReports, type SectionReport } from './report.ts';
import { CHAOS_AUTH_CONTEXT, runTokens } from './tokens.ts';

const PARTS = ['tokens', 'frames', 'envelopes', 'isolation', 'faults'] as const;
type Part = (typeof PARTS)[number];

const seed = intEnv('CHAOS_SEED', Date.now() % 2 ** 31);
const only = (process.env.CHAOS_ONLY ?? PARTS.join(','))
  .split(',')
  .map((part) => part.trim())
  .filter((part) => part !== '');
for (const part of only)
  if (!PARTS.includes(part as Part))
    throw new Error(`CHAOS_ONLY: unknown part "${part}"; parts: ${PARTS.join(', ')}`);
const runs = (part: Part) => only.includes(part);

const target = await startTarget({ context: { ...CHAOS_AUTH_CONTEXT, openTopics: 'chaos.open' } });
const reports: SectionReport[] = [];
try {
  if (runs('tokens')) reports.push(await runTokens(target, { jwksRotation: true }));
  if (runs('frames'))
    reports.push(
      await runFrames(target, {
        frames: intEnv('CHAOS_FRAMES', 10_000),
        connections: intEnv('CHAOS_FRAME_CONNECTIONS', 16),
        seed,
      }),
    );
  if (runs('envelopes'))
    reports.push(
      await runEnvelopes(target, {
        envelopes: intEnv('CHAOS_ENVELOPES', 10_000),
        users: intEnv('CHAOS_ENVELOPE_USERS', 20),
        seed,
        settleTimeoutMs: 300_000,
      }),
    );
  if (runs('isolation'))
    reports.push(
      await runCrossUser(target, {
        users: intEnv('CHAOS_ISOLATION_USERS', 50),
        messages: intEnv('CHAOS_ISOLATION_MESSAGES', 1_000),
        seed,
        settleTimeoutMs: 300_000,
      }),
    );
  if (runs('faults'))
    reports.push(
      await runFaults(target, {
        users: intEnv('CHAOS_FAULT_USERS', 100),
        messages: intEnv('CHAOS_FAULT_MESSAGES', 10_000),
        seed,
      }),
    );
} finally {
  await target.stop();
}

process.stdout.write(`\n${formatReports(reports)}`);
await mkdir('bench/results', { recursive: true });
await writeFile(
  'bench/results/chaos.json',
  `${JSON.stringify({ ...machineFacts(), seed, parts: reports }, null, 2)}\n`,
);
process.stdout.write(`seed ${seed}; written to bench/results/chaos.json\n`);
if (reports.some((report) => report.failures.length > 0)) process.exitCode = 1;
