import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LambdaFunctionError, UnknownFunctionError } from '../../emulator/lambda/errors.ts';
import { LambdaRuntime } from '../../emulator/lambda/lambda-runtime.ts';
import { FunctionError } from '../../emulator/topology.ts';
import { eventually } from '../support/ws-client.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/gateway/${name}.ts`, import.meta.url));

interface ProbeResult {
  instanceId: string;
  invocations: number;
  env: Record<string, string | null>;
  context: { functionName: string; awsRequestId: string; invokedFunctionArn: string; remainingMs: number };
  timeZone: string;
  localHour: number;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the invocation to fail');
}

describe('LambdaRuntime', () => {
  const logs: string[] = [];
  let runtime: LambdaRuntime;

  before(() => {
    // Set on the parent only: a function must not see it.
    process.env.PARENT_ONLY = 'leaked';
    runtime = new LambdaRuntime({
      baseEnvironment: { SHARED: 'from-base', GREETING: 'base-greeting' },
      log: (line) => logs.push(line),
      functions: [
        { name: 'probe-a', entry: fixture('env-probe'), environment: { GREETING: 'hello-a' } },
        {
          name: 'probe-b',
          entry: fixture('env-probe'),
          environment: { GREETING: 'hello-b' },
          maxConcurrency: 2,
        },
        { name: 'serial', entry: fixture('behaviours'), handler: 'sleep', maxConcurrency: 1 },
        { name: 'slow', entry: fixture('behaviours'), handler: 'sleep', timeoutSeconds: 0.5 },
        { name: 'fail', entry: fixture('behaviours'), handler: 'fail' },
        { name: 'crash', entry: fixture('behaviours'), handler: 'crash' },
        { name: 'spin', entry: fixture('behaviours'), handler: 'spin' },
        { name: 'log', entry: fixture('behaviours'), handler: 'log' },
        { name: 'callback', entry: fixture('behaviours'), handler: 'callbackStyle' },
        { name: 'marshal', entry: fixture('behaviours'), handler: 'marshal' },
        { name: 'init-failure', entry: fixture('init-failure') },
        { name: 'missing-handler', entry: fixture('behaviours'), handler: 'doesNotExist' },
      ],
    });
  });

  after(async () => {
    delete process.env.PARENT_ONLY;
    await runtime.close();
  });

  it('runs a TypeScript handler in a worker with the function environment and nothing of the parent', async () => {
    const a = (await runtime.invoke('probe-a', {})) as ProbeResult;
    const b = (await runtime.invoke('probe-b', {})) as ProbeResult;

    assert.equal(a.env.GREETING, 'hello-a');
    assert.equal(b.env.GREETING, 'hello-b');
    assert.equal(a.env.SHARED, 'from-base');
    assert.equal(a.env.PARENT_ONLY, null);
    assert.equal(a.env.AWS_LAMBDA_FUNCTION_NAME, 'probe-a');
    assert.equal(b.env.AWS_LAMBDA_FUNCTION_NAME, 'probe-b');
    assert.equal(a.env.AWS_REGION, 'us-east-1');
    assert.notEqual(a.instanceId, b.instanceId);
  });

  it('gives the handler a Lambda context', async () => {
    const result = (await runtime.invoke('probe-a', {})) as ProbeResult;

    assert.equal(result.context.functionName, 'probe-a');
    assert.match(result.context.awsRequestId, /^[0-9a-f-]{36}$/);
    assert.equal(result.context.invokedFunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:probe-a');
    // Counted down from Lambda's default 3 s timeout (the spec sets none); how much is left
    // depends on the machine's speed.
    assert.ok(
      result.context.remainingMs > 0 && result.context.remainingMs <= 3_000,
      `remaining ${result.context.remainingMs} ms`,
    );
  });

  it('reuses a warm instance, so module scope runs once per instance', async () => {
    const before = runtime.stats('probe-a');
    const first = (await runtime.invoke('probe-a', {})) as ProbeResult;
    const second = (await runtime.invoke('probe-a', {})) as ProbeResult;

    assert.equal(second.instanceId, first.instanceId);
    assert.equal(second.invocations, first.invocations + 1);
    assert.equal(runtime.stats('probe-a').coldStarts, before.coldStarts);
    assert.equal(runtime.stats('probe-a').invocations, before.invocations + 2);
  });

  it('starts new instances for queued invocations up to maxConcurrency, and serves them on whichever frees first', async () => {
    const before = runtime.stats('probe-b').coldStarts;
    const results = (await Promise.all([
      runtime.invoke('probe-b', { sleepMs: 300 }),
      runtime.invoke('probe-b', { sleepMs: 300 }),
      runtime.invoke('probe-b', { sleepMs: 300 }),
    ])) as ProbeResult[];

    // maxConcurrency 2: the warm instance takes the first call, one more instance starts for the
    // queued ones, and the cap stops a third. Queued calls go to whichever instance is free first
    // (on a slow machine the warm one may serve all three before the new one is ready).
    assert.equal(results.length, 3);
    assert.equal(runtime.stats('probe-b').coldStarts - before, 1);
    assert.ok(new Set(results.map((r) => r.instanceId)).size <= 2);
  });

  it('queues invocations beyond maxConcurrency and runs them one at a time per instance', async () => {
    const started = Date.now();
    await Promise.all([100, 100, 100].map((ms) => runtime.invoke('serial', { ms })));

    assert.ok(Date.now() - started >= 300, 'three 100 ms invocations on one instance take at least 300 ms');
    assert.equal(runtime.stats('serial').coldStarts, 1);
  });

  it('times out an invocation with Sandbox.Timedout and replaces the instance', async () => {
    await runtime.invoke('slow', { ms: 1 });
    const coldStarts = runtime.stats('slow').coldStarts;

    const error = await rejection(runtime.invoke('slow', { ms: 5_000 }));

    assert.ok(error instanceof FunctionError);
    assert.equal(error.errorType, 'Sandbox.Timedout');
    assert.match(error.message, /Task timed out after 0\.50 seconds/);
    assert.deepEqual(await runtime.invoke('slow', { ms: 1 }), { slept: 1 });
    assert.equal(runtime.stats('slow').coldStarts, coldStarts + 1);
    assert.ok(runtime.stats('slow').errors >= 1);
  });

  it('rejects with the thrown error type and message', async () => {
    const error = await rejection(runtime.invoke('fail', {}));

    assert.ok(error instanceof LambdaFunctionError);
    assert.equal(error.functionName, 'fail');
    assert.equal(error.errorType, 'ValidationError');
    assert.equal(error.errorMessage, 'the event is invalid');
    assert.equal(runtime.stats('fail').errors, 1);
  });

  it('fails the invocation in flight when the instance crashes, then serves from a fresh instance', async () => {
    const error = await rejection(runtime.invoke('crash', {}));

    assert.ok(error instanceof LambdaFunctionError);
    assert.equal(error.errorMessage, 'crashed outside the handler');
    await rejection(runtime.invoke('crash', {}));
    assert.equal(runtime.stats('crash').coldStarts, 2);
  });

  it('reports a cold start failure as the invocation error and retries the init next time', async () => {
    const first = await rejection(runtime.invoke('init-failure', {}));
    const second = await rejection(runtime.invoke('init-failure', {}));

    assert.ok(first instanceof LambdaFunctionError);
    assert.equal(first.errorMessage, 'MISSING_SETTING is not set');
    assert.ok(second instanceof LambdaFunctionError);
    assert.equal(runtime.stats('init-failure').coldStarts, 2);
  });

  it('reports a missing export as Runtime.HandlerNotFound', async () => {
    const error = await rejection(runtime.invoke('missing-handler', {}));

    assert.ok(error instanceof LambdaFunctionError);
    assert.equal(error.errorType, 'Runtime.HandlerNotFound');
  });

  it('supports callback-style handlers', async () => {
    assert.deepEqual(await runtime.invoke('callback', { value: 21 }), { doubled: 42 });
  });

  it('passes results through JSON, as Lambda does', async () => {
    assert.deepEqual(await runtime.invoke('marshal', {}), { at: '1970-01-01T00:00:00.000Z', kept: 1 });
  });

  it('forwards console output to the log, prefixed with the function name', async () => {
    await runtime.invoke('log', { lines: ['first line', 'second line'] });

    await eventually(() => logs.includes('[log] second line'), 30_000, 'the second log line');
    assert.ok(logs.includes('[log] first line'));
    assert.ok(logs.includes('[log] second line'));
  });

  it('counts event-loop busy time of the instances', async () => {
    await runtime.invoke('spin', { ms: 1 });
    const before = runtime.stats('spin').busyMs;

    await runtime.invoke('spin', { ms: 150 });

    const spent = runtime.stats('spin').busyMs - before;
    assert.ok(spent >= 140, `expected at least 140 ms busy, got ${spent}`);
  });

  it('counts the CPU time of invocations on Linux, and not the time spent waiting', async (t) => {
    if (process.platform !== 'linux') {
      t.skip('thread CPU time is read from Linux /proc');
      return;
    }
    await runtime.invoke('spin', { ms: 1 });
    const before = runtime.stats('spin').cpuMs;
    const began = performance.now();
    await runtime.invoke('spin', { ms: 150 });
    const wall = performance.now() - began;
    const spent = runtime.stats('spin').cpuMs - before;
    const waitingBefore = runtime.stats('serial').cpuMs;
    await runtime.invoke('serial', { ms: 300 });
    const waiting = runtime.stats('serial').cpuMs - waitingBefore;

    // A busy loop uses CPU, never more than the time it ran (a shared machine may give it less);
    // an invocation that only waits on a timer uses next to none of its 300 ms.
    assert.ok(
      spent > 0 && spent <= wall,
      `expected the spin's CPU time (at most ${wall} ms), got ${spent} ms`,
    );
    assert.ok(waiting < 150, `a waiting invocation counted ${waiting} ms of CPU`);
  });

  it('rejects an unknown function name with a typed error', async () => {
    const error = await rejection(runtime.invoke('nope', {}));

    assert.ok(error instanceof UnknownFunctionError);
    assert.equal(error.code, 'UNKNOWN_FUNCTION');
  });
});

describe('LambdaRuntime time zone', () => {
  let hostZone: string | undefined;

  before(() => {
    hostZone = process.env.TZ;
    // A host far from UTC: without the runtime's switch, workers would run in it.
    process.env.TZ = 'America/New_York';
  });

  after(() => {
    if (hostZone === undefined) delete process.env.TZ;
    else process.env.TZ = hostZone;
  });

  it('runs functions in UTC, as Lambda does, whatever the host time zone', async () => {
    assert.equal(new Date(Date.UTC(2026, 0, 1)).getHours(), 19, 'the host zone took effect');
    const runtime = new LambdaRuntime({
      log: () => {},
      functions: [{ name: 'probe', entry: fixture('env-probe') }],
    });
    try {
      const result = (await runtime.invoke('probe', {})) as ProbeResult;

      assert.equal(result.timeZone, 'UTC');
      assert.equal(result.localHour, 0);
      assert.equal(result.env.TZ, ':UTC');
    } finally {
      await runtime.close();
    }
  });

  it("keeps the host's time zone with timeZone: 'host'", async () => {
    process.env.TZ = 'America/New_York';
    const runtime = new LambdaRuntime({
      log: () => {},
      timeZone: 'host',
      functions: [{ name: 'probe', entry: fixture('env-probe') }],
    });
    try {
      const result = (await runtime.invoke('probe', {})) as ProbeResult;

      assert.equal(result.timeZone, 'America/New_York');
      assert.equal(result.localHour, 19);
      assert.equal(result.env.TZ, null);
    } finally {
      await runtime.close();
    }
  });
});

describe('LambdaRuntime: the AWS SDK the Node.js runtime provides', () => {
  let dir: string;

  before(async () => {
    // A handler outside this project, with no node_modules of its own: as an unbundled handler
    // deployed without the SDK, it relies on the one Lambda's runtime provides.
    dir = await mkdtemp(join(tmpdir(), 'pushline-unbundled-'));
    await writeFile(
      join(dir, 'handler.mjs'),
      [
        "import { SNSClient } from '@aws-sdk/client-sns';",
        "import { marker } from '@aws-sdk/own-copy';",
        'export const handler = async () => ({ sns: typeof SNSClient, marker });',
      ].join('\n'),
    );
    // A package of the provided scope that the handler ships itself: its copy must win.
    const own = join(dir, 'node_modules', '@aws-sdk', 'own-copy');
    await mkdir(own, { recursive: true });
    await writeFile(
      join(own, 'package.json'),
      JSON.stringify({ name: '@aws-sdk/own-copy', type: 'module', main: 'index.js' }),
    );
    await writeFile(join(own, 'index.js'), "export const marker = 'the handler’s own copy';\n");
    await writeFile(
      join(dir, 'missing.mjs'),
      "import '@aws-sdk/no-such-client';\nexport const handler = async () => 1;\n",
    );
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves @aws-sdk imports a handler does not ship, and keeps a copy it ships', async () => {
    const runtime = new LambdaRuntime({
      log: () => {},
      functions: [
        { name: 'unbundled', entry: join(dir, 'handler.mjs') },
        { name: 'missing', entry: join(dir, 'missing.mjs') },
      ],
    });
    try {
      assert.deepEqual(await runtime.invoke('unbundled', {}), {
        sns: 'function',
        marker: 'the handler’s own copy',
      });
      // A package neither the handler nor the runtime has still fails as on Lambda.
      const error = await rejection(runtime.invoke('missing', {}));
      assert.ok(error instanceof LambdaFunctionError);
      assert.equal((error as LambdaFunctionError).errorType, 'Runtime.ImportModuleError');
    } finally {
      await runtime.close();
    }
  });
});

describe('LambdaRuntime: new code without a restart', () => {
  let dir: string;
  const write = (version: string, delayMs = 0) =>
    writeFile(
      join(dir, 'versioned.mjs'),
      `export const handler = async () => { await new Promise((r) => setTimeout(r, ${delayMs})); return '${version}'; };\n`,
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushline-reload-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the code on disk after reload(), letting an invocation in flight finish on the old code', async () => {
    await write('v1', 300);
    const runtime = new LambdaRuntime({
      log: () => {},
      functions: [{ name: 'versioned', entry: join(dir, 'versioned.mjs') }],
    });
    try {
      assert.equal(await runtime.invoke('versioned', {}), 'v1');
      const inFlight = runtime.invoke('versioned', {});
      await write('v2');
      // Without reload the warm instance keeps the module it loaded.
      runtime.reload();
      assert.equal(await inFlight, 'v1');
      assert.equal(await runtime.invoke('versioned', {}), 'v2');
      assert.equal(runtime.stats('versioned').coldStarts, 2);
    } finally {
      await runtime.close();
    }
  });

  it('keeps the loaded code until told: a warm instance does not see a changed file by itself', async () => {
    await write('v1');
    const runtime = new LambdaRuntime({
      log: () => {},
      functions: [{ name: 'versioned', entry: join(dir, 'versioned.mjs') }],
    });
    try {
      assert.equal(await runtime.invoke('versioned', {}), 'v1');
      await write('v2');
      assert.equal(await runtime.invoke('versioned', {}), 'v1');
    } finally {
      await runtime.close();
    }
  });

  it('reloads by itself on a file change with reloadOnChange', async () => {
    await write('v1');
    const logs: string[] = [];
    const runtime = new LambdaRuntime({
      log: (line) => logs.push(line),
      reloadOnChange: true,
      functions: [{ name: 'versioned', entry: join(dir, 'versioned.mjs') }],
    });
    try {
      assert.equal(await runtime.invoke('versioned', {}), 'v1');
      await write('v2');
      await eventually(async () => (await runtime.invoke('versioned', {})) === 'v2', 10_000, 'the new code');
      assert.ok(
        logs.some((line) => /versioned\.mjs changed/.test(line)),
        logs.join('\n'),
      );
    } finally {
      await runtime.close();
    }
  });
});
