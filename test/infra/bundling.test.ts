import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ENV } from '../../functions/shared/environment.ts';
import { createApp } from '../../infra/pushline-stack.ts';

const run = promisify(execFile);

/** Enough configuration for every handler's cold start, with nothing listening behind it. */
const COLD_START_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  [ENV.tableName]: 'table',
  [ENV.callbackUrl]: 'http://127.0.0.1:9/prod',
  [ENV.rejectedQueueUrl]: 'http://127.0.0.1:9/000000000000/rejected',
  [ENV.jwtSecret]: 'a-local-secret-of-at-least-32-characters',
  [ENV.fanoutTopicArn]: 'arn:aws:sns:us-east-1:000000000000:fanout',
  [ENV.topicArn]: 'arn:aws:sns:us-east-1:000000000000:pushline',
  POWERTOOLS_METRICS_DISABLED: 'true',
};

describe('the functions bundled for deployment (the one test that runs esbuild through the CDK)', () => {
  let outdir: string;
  let functions: { id: string; directory: string; handler: string }[];

  before(async () => {
    outdir = await mkdtemp(join(tmpdir(), 'pushline-bundle-'));
    const { app, stack } = createApp({ outdir, nag: false, validation: false });
    const template = app.synth().getStackByName(stack.stackName).template as {
      Resources: Record<
        string,
        { Type: string; Properties: { Code?: { S3Key?: string }; Handler?: string } }
      >;
    };
    functions = Object.entries(template.Resources)
      .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
      .map(([id, resource]) => ({
        id,
        directory: join(outdir, `asset.${String(resource.Properties.Code?.S3Key).replace(/\.zip$/, '')}`),
        handler: String(resource.Properties.Handler),
      }));
  });

  after(async () => {
    if (outdir) await rm(outdir, { recursive: true, force: true });
  });

  it('produces a minified ESM module with a source map for each of the six functions', async () => {
    assert.equal(functions.length, 6);
    for (const fn of functions) {
      assert.deepEqual((await readdir(fn.directory)).sort(), ['index.mjs', 'index.mjs.map'], fn.id);
      assert.equal(fn.handler, 'index.handler');
      const code = await readFile(join(fn.directory, 'index.mjs'), 'utf8');
      assert.match(code.slice(0, 200), /createRequire/, `${fn.id} lacks the require banner`);
      // Minified code is a few very long lines (esbuild keeps legal comments on their own lines).
      assert.ok(code.length / code.split('\n').length > 2000, `${fn.id} does not look minified`);
    }
  });

  it('loads every bundle in Node and finds its exported handler', async () => {
    for (const fn of functions) {
      const script = `const m = await import(${JSON.stringify(join(fn.directory, 'index.mjs'))}); if (typeof m.handler !== 'function') { throw new Error('no handler export'); }`;
      const { stderr } = await run(process.execPath, ['--input-type=module', '-e', script], {
        env: { PATH: process.env.PATH, ...COLD_START_ENV },
        timeout: 30_000,
      });
      assert.doesNotMatch(stderr, /Error/, fn.id);
    }
  });
});
