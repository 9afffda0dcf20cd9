/**
 * The package as a team installs it: `npm pack` (whose prepack runs `npm run build`), the tarball
 * installed into a fresh app outside this repository, and that app importing `pushline/cdk`,
 * `pushline/publisher` and `pushline/client` from its own node_modules.
 *
 * The app's dependencies are really installed from the tarball by npm (from the npm cache when it
 * holds them, else the registry), so a runtime dependency missing from package.json fails here. The
 * optional peers `aws-cdk-lib` and `constructs` are not installed: they are symlinked from this
 * repository's node_modules, as a CDK app brings its own (and installing them would copy 50 MB per
 * run). Nothing else of the repository is reachable from the app: it lives under the system's
 * temporary directory and runs without NODE_PATH.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { App, Stack } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { build } from 'esbuild';
import { HANDLER, HANDLER_FILE, HANDLER_NAMES } from '../../infra/handler-bundling.ts';
import { Pushline } from '../../infra/pushline.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { mintLocalToken } from '../../local/tokens.ts';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The construct's functions, by the handler each runs (from its description `Pushline <name>`). */
const FUNCTION_IDS = new Map(HANDLER_NAMES.map((name) => [`Pushline ${name}`, name]));

/** CloudFormation resources of a synthesized template. */
type Resources = Record<
  string,
  { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> }
>;

/**
 * The environment of the npm and node children. npm scripts export their configuration as
 * `npm_*` variables (under `npm test`, `npm_config_local_prefix` is this repository and
 * `npm_config_prefix` the global prefix); a child npm must not take either for the app's, so only
 * the cache and registry are passed on (and the install also names its `--prefix`).
 */
function childEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !/^npm_config_(cache|registry)$/i.test(key)) continue;
    if (key === 'NODE_PATH' || key === 'NODE_OPTIONS') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Uses each export's types; the `@ts-expect-error` lines fail the check if a declaration is missing
 * (an import typed `any` accepts anything).
 */
const CONSUMER_SOURCE = `
import { App, Stack } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Pushline } from 'pushline/cdk';
import { Publisher, type PushMessage } from 'pushline/publisher';
import { createClient, type PushlineMessage } from 'pushline/client';
import { PushlineClient } from 'pushline';

const stack = new Stack(new App(), 'Typed');
const pushline = new Pushline(stack, 'Pushline', { auth: { secret: new secretsmanager.Secret(stack, 'Key') } });
const url: string = pushline.webSocketUrl;
// @ts-expect-error: auth is required
new Pushline(stack, 'Untyped', {});
const message: PushMessage = { to: { users: ['alice'] }, type: 'greeting', data: { url } };
// @ts-expect-error: to must name users, a topic or everyone
const wrong: PushMessage = { to: { people: ['alice'] }, type: 'greeting', data: 1 };
void new Publisher({ topicArn: 'arn:aws:sns:eu-west-1:111111111111:t' }).publish(message);
const client: PushlineClient = createClient({ url, token: () => 'token' });
client.on('message', (received: PushlineMessage) => received.data);
void wrong;
`;

/** The app's stack: a Secrets Manager key for the tokens and the construct with its defaults. */
const SYNTH_SCRIPT = `
import { writeFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Pushline } from 'pushline/cdk';

const [outdir, templateFile] = process.argv.slice(2);
// Asset staging off: each function's asset path is then the folder its code comes from.
const app = new App({
  outdir,
  context: { 'aws:cdk:disable-asset-staging': true, 'aws:cdk:enable-asset-metadata': true },
});
const stack = new Stack(app, 'ConsumerStack', { env: { account: '111111111111', region: 'eu-west-1' } });
new Pushline(stack, 'Pushline', { auth: { secret: new secretsmanager.Secret(stack, 'TokenKey') } });
writeFileSync(templateFile, JSON.stringify(app.synth().getStackByName('ConsumerStack').template));
`;

/** Connects a client for the user, publishes one message to that user, prints what arrived. */
const DELIVERY_SCRIPT = `
import { createClient } from 'pushline/client';
import { Publisher } from 'pushline/publisher';
import { WebSocket } from 'ws';

const { PUSHLINE_URL, PUSHLINE_TOPIC_ARN, PUSHLINE_TOKEN, PUSHLINE_USER, PUSHLINE_NONCE } = process.env;
const deadline = setTimeout(() => {
  console.error('no message within 30 s');
  process.exit(2);
}, 30_000);
const client = createClient({ url: PUSHLINE_URL, token: () => PUSHLINE_TOKEN, WebSocket });
await client.connect();
const received = new Promise((resolve) => client.on('message', resolve));
// The SNS client comes from the standard AWS variables (AWS_ENDPOINT_URL points at the local stack).
const publisher = new Publisher({ topicArn: PUSHLINE_TOPIC_ARN });
const published = await publisher.publish({
  to: { users: [PUSHLINE_USER] },
  type: 'greeting',
  data: { nonce: PUSHLINE_NONCE },
});
const message = await received;
clearTimeout(deadline);
client.close();
console.log(JSON.stringify({
  published,
  message: { id: message.id, type: message.type, data: message.data },
  resolved: [import.meta.resolve('pushline/client'), import.meta.resolve('pushline/publisher')],
}));
process.exit(0);
`;

describe('the packed package installed into a fresh app', () => {
  let work: string;
  let appDir: string;
  let installed: string;
  let peersInstalled: string[];

  before(async () => {
    const started = Date.now();
    work = await mkdtemp(join(tmpdir(), 'pushline-package-'));
    const packDir = join(work, 'pack');
    await mkdir(packDir);
    await run('npm', ['pack', '--pack-destination', packDir, '--silent'], {
      cwd: ROOT,
      env: childEnvironment(),
      timeout: 180_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const tarballs = (await readdir(packDir)).filter((name) => name.endsWith('.tgz'));
    assert.equal(tarballs.length, 1, `npm pack made ${tarballs.join(', ') || 'no tarball'}`);
    const packed = Date.now();

    appDir = join(work, 'app');
    await mkdir(appDir);
    await writeFile(
      join(appDir, 'package.json'),
      JSON.stringify({ name: 'pushline-consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    // ws: what the SDK's docs ask of a Node 20 app (no global WebSocket); Node 22 would not need it.
    await run(
      'npm',
      [
        'install',
        join(packDir, tarballs[0] as string),
        'ws@^8',
        '--prefix',
        appDir,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
      ],
      { cwd: appDir, env: childEnvironment(), timeout: 180_000, maxBuffer: 16 * 1024 * 1024 },
    );
    installed = await realpath(join(appDir, 'node_modules', 'pushline'));
    // The CDK is an optional peer: an app that only publishes or connects does not get it.
    peersInstalled = ['aws-cdk-lib', 'constructs'].filter((peer) =>
      existsSync(join(appDir, 'node_modules', peer)),
    );
    for (const peer of ['aws-cdk-lib', 'constructs']) {
      await symlink(
        await realpath(join(ROOT, 'node_modules', peer)),
        join(appDir, 'node_modules', peer),
        'dir',
      );
    }
    console.log(
      `# pack ${((packed - started) / 1000).toFixed(1)} s, install ${((Date.now() - packed) / 1000).toFixed(1)} s`,
    );
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('ships compiled JavaScript with type declarations, the prebuilt handlers and no TypeScript source', async () => {
    const files = (await readdir(installed, { recursive: true })).map(String);
    for (const entry of ['client/index', 'publisher/index', 'infra/pushline', 'cli/pushline']) {
      assert.ok(files.includes(`dist/${entry}.js`), `dist/${entry}.js is missing`);
      assert.ok(files.includes(`dist/${entry}.d.ts`), `dist/${entry}.d.ts is missing`);
    }
    for (const name of HANDLER_NAMES) {
      assert.ok(files.includes(`dist/handlers/${name}/${HANDLER_FILE}`), `the ${name} handler is missing`);
    }
    assert.deepEqual(
      files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts')),
      [],
      'TypeScript sources in the package',
    );
  });

  it('type-checks an app against the package’s declarations', async () => {
    await writeFile(join(appDir, 'consumer.ts'), CONSUMER_SOURCE);
    await writeFile(
      join(appDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          // The app's @types/node, borrowed from this repository like the CDK peers.
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    const checked = await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', appDir], {
      cwd: appDir,
      env: childEnvironment(),
      timeout: 120_000,
    }).catch((error: { stdout?: string }) => ({ stdout: String(error.stdout), failed: true }));
    assert.ok(!('failed' in checked), checked.stdout);
  });

  it('bundles pushline/client for a browser: no Node built-in in the client SDK', async () => {
    const result = await build({
      entryPoints: [join(installed, 'dist', 'client', 'index.js')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(
      inputs.some((input) => input.endsWith('dist/client/pushline-client.js')),
      inputs.join(', '),
    );
    assert.deepEqual(
      inputs.filter((input) => !input.includes('/dist/')),
      [],
      'the browser bundle holds more than the package',
    );
  });

  it('leaves the CDK out of an app that installs only pushline', () => {
    assert.deepEqual(peersInstalled, []);
  });

  it('runs npx pushline from the package', async () => {
    const pushline = join(appDir, 'node_modules', '.bin', 'pushline');
    const help = await run(pushline, ['--help'], { cwd: appDir, env: childEnvironment(), timeout: 30_000 });
    assert.match(help.stdout, /^Usage: npx pushline <command>/);
    const token = await run(
      pushline,
      ['token', 'alice', '--secret', 'a-secret-of-at-least-32-characters-long'],
      {
        cwd: appDir,
        env: childEnvironment(),
        timeout: 30_000,
      },
    );
    const [, payload] = token.stdout.trim().split('.');
    assert.equal(JSON.parse(Buffer.from(String(payload), 'base64url').toString()).sub, 'alice');
  });

  it('synthesizes a stack with pushline/cdk whose functions run the package’s prebuilt handlers', async () => {
    await writeFile(join(appDir, 'synth.mjs'), SYNTH_SCRIPT);
    const templateFile = join(work, 'template.json');
    const { stderr } = await run(process.execPath, ['synth.mjs', join(work, 'cdk.out'), templateFile], {
      cwd: appDir,
      env: childEnvironment(),
      timeout: 120_000,
    });
    // NodejsFunction announces each esbuild run; the package must not bundle anything.
    assert.doesNotMatch(stderr, /Bundling asset/);
    const template = JSON.parse(await readFile(templateFile, 'utf8')) as {
      Resources: Resources;
    };
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    assert.equal(functions.length, HANDLER_NAMES.length);
    const seen = new Set<string>();
    for (const fn of functions) {
      const name = FUNCTION_IDS.get(String(fn.Properties.Description));
      assert.ok(name, `unexpected function ${String(fn.Properties.Description)}`);
      seen.add(name);
      assert.equal(fn.Properties.Handler, HANDLER);
      assert.equal(fn.Properties.Runtime, 'nodejs22.x');
      assert.equal(fn.Metadata?.['aws:asset:path'], join(installed, 'dist', 'handlers', name), name);
    }
    assert.equal(seen.size, HANDLER_NAMES.length);

    // The same stack from the sources (bundling skipped): the package changes only where code comes from.
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'ConsumerStack', { env: { account: '111111111111', region: 'eu-west-1' } });
    new Pushline(stack, 'Pushline', { auth: { secret: new secretsmanager.Secret(stack, 'TokenKey') } });
    const fromSource = app.synth().getStackByName('ConsumerStack').template as { Resources: Resources };
    assert.deepEqual(Object.keys(template.Resources).sort(), Object.keys(fromSource.Resources).sort());
    for (const [id, resource] of Object.entries(fromSource.Resources)) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      const { Code: _packaged, ...packaged } = template.Resources[id]?.Properties ?? {};
      const { Code: _bundled, ...bundled } = resource.Properties;
      assert.deepEqual(packaged, bundled, id);
    }
  });

  describe('against the local stack', () => {
    let stack: LocalStack;

    before(async () => {
      stack = await startLocalStack({ quiet: true, console: false, ports: { gateway: 0, aws: 0 } });
    });

    after(async () => {
      await stack?.stop();
    });

    it('publishes with pushline/publisher and receives the message with pushline/client', async () => {
      await writeFile(join(appDir, 'deliver.mjs'), DELIVERY_SCRIPT);
      const user = `package-user-${process.pid}`;
      const nonce = `nonce-${Date.now()}`;
      const { stdout } = await run(process.execPath, ['deliver.mjs'], {
        cwd: appDir,
        timeout: 60_000,
        env: childEnvironment({
          PUSHLINE_URL: stack.outputs.WebSocketUrl,
          PUSHLINE_TOPIC_ARN: stack.outputs.TopicArn,
          PUSHLINE_TOKEN: await mintLocalToken(user),
          PUSHLINE_USER: user,
          PUSHLINE_NONCE: nonce,
          AWS_ENDPOINT_URL: stack.outputs.AwsEndpointUrl,
          AWS_REGION: stack.outputs.Region,
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        }),
      });
      const result = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
        published: { id: string };
        message: { id: string; type: string; data: unknown };
        resolved: string[];
      };
      assert.equal(result.message.id, result.published.id);
      assert.equal(result.message.type, 'greeting');
      assert.deepEqual(result.message.data, { nonce });
      for (const url of result.resolved) {
        assert.ok(
          fileURLToPath(url).startsWith(join(installed, 'dist')),
          `${url} is not the installed package`,
        );
      }
    });
  });
});
