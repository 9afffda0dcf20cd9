import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCrossUser } from '../chaos/cross-user.ts';
import { runEnvelopes } from '../chaos/envelopes.ts';
import { runFaults } from '../chaos/faults.ts';
import { runFrames } from '../chaos/frames.ts';
import type { SectionReport } from '../chaos/report.ts';
import { CHAOS_AUTH_CONTEXT, runTokens } from '../chaos/tokens.ts';
import { startTarget, type Target, WEBSOCKET_SKIP } from '../support/target.ts';

/**
 * The short version of `npm run chaos` (test/chaos/run.ts): every part, smaller, with a seed that
 * changes each run (printed, so a failure can be replayed with CHAOS_SEED). JWKS rotation, which
 * waits out the verifier's 30 s refetch cooldown twice, runs only in `npm run chaos`.
 */
const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31);
const LIMIT = { timeout: 300_000 };

function assertSurvived(report: SectionReport): void {
  assert.deepEqual(report.failures, [], `${report.name} (seed ${seed}): ${report.failures.join('; ')}`);
}

describe(`hostile input and faults, short (seed ${seed})`, { skip: WEBSOCKET_SKIP }, () => {
  let target: Target;

  before(async () => {
    target = await startTarget({ context: { ...CHAOS_AUTH_CONTEXT, openTopics: 'chaos.open' } });
  });
  after(async () => {
    await target.stop();
  });

  it('answers every token attack with the status AWS gives', LIMIT, async () => {
    const report = await runTokens(target, { jwksRotation: false });
    assertSurvived(report);
    assert.equal(report.figures['alg none, unsigned: HTTP status'], 403);
    assert.equal(report.figures['a good token (control): HTTP status'], 101);
  });

  it(
    'answers 400 generated client frames, each valid one as asked and each bad one with a stable code',
    LIMIT,
    async () => {
      const report = await runFrames(target, { frames: 400, connections: 8, seed });
      assertSurvived(report);
      assert.equal(report.figures['frames sent'], 400);
    },
  );

  it(
    'delivers each of 300 generated envelopes exactly once or keeps it in the rejected queue, losing none',
    LIMIT,
    async () => {
      const report = await runEnvelopes(target, {
        envelopes: 300,
        users: 10,
        seed,
        settleTimeoutMs: 120_000,
      });
      assertSurvived(report);
      assert.equal(report.figures['lost (neither delivered nor kept)'], 0);
      assert.ok((report.figures['deliveries made, exactly once'] ?? 0) > 0);
      assert.ok((report.figures['bad envelopes kept with a reason'] ?? 0) > 0);
    },
  );

  it('keeps 10 users apart over 200 randomly addressed messages', LIMIT, async () => {
    const report = await runCrossUser(target, { users: 10, messages: 200, seed });
    assertSurvived(report);
    assert.equal(report.figures['cross-user deliveries'], 0);
  });

  it(
    'gets 300 stored messages to 10 SDK applications exactly once through cuts, failed posts, table errors and crashes',
    LIMIT,
    async () => {
      const report = await runFaults(target, { users: 10, messages: 300, seed, crashRate: 0.05 });
      assertSurvived(report);
      assert.equal(report.figures['missing at the end'], 0);
      assert.ok(
        (report.figures['table requests failed on purpose'] ?? 0) > 0,
        'the table faults took effect',
      );
      assert.ok((report.figures['connections cut'] ?? 0) > 0, 'connections were cut');
    },
  );
});
