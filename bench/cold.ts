/**
 * `npm run bench:cold`: each function's bundle size and cold module init, beside baselines built and
 * measured in the same run:
 *
 * - size: a bundle of only the AWS SDK clients the function loads (found in esbuild's metafile),
 *   built with the same options; target: the function at most 10 % above it;
 * - init: a fresh Node process importing the bundle (what Lambda's Init Duration covers: the runtime
 *   starting and the module loading), beside a hello-world function's and the SDK-only bundle's;
 *   target: at most 1.5× hello world's.
 *
 * Bundles are built as the construct builds them (infra/pushline.ts: esbuild, ESM, node22, minified,
 * the require banner). Init runs under Node 22 (Lambda's nodejs22.x) when the `node` package is
 * installed, else under this Node. Options (environment): BENCH_COLD_RUNS (15). Results are printed
 * and written to bench/results/cold.json and cold.svg.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { ENV } from '../functions/shared/environment.ts';
import { barChart, median } from './plot.ts';

const RUNS = Number(process.env.BENCH_COLD_RUNS ?? 15);
const FUNCTIONS = ['authorizer', 'connect', 'disconnect', 'message', 'deliver', 'fanout'] as const;
const NODE_22 = 'node_modules/node/bin/node';

/** As infra/pushline.ts bundles: ESM output that can still `require` Node's built-ins. */
const BANNER =
  "import { createRequire as __pushlineCreateRequire } from 'node:module'; const require = __pushlineCreateRequire(import.meta.url);";

/** The SDK clients a bundle may hold, by package, with the class to construct. */
const SDK_CLIENTS: Record<string, string> = {
  '@aws-sdk/client-dynamodb': 'DynamoDBClient',
  '@aws-sdk/lib-dynamodb': 'DynamoDBDocumentClient',
  '@aws-sdk/client-sns': 'SNSClient',
  '@aws-sdk/client-sqs': 'SQSClient',
  '@aws-sdk/client-apigatewaymanagementapi': 'ApiGatewayManagementApiClient',
  '@aws-sdk/client-secrets-manager': 'SecretsManagerClient',
};

/** Enough configuration for every handler's cold start, with nothing listening behind it. */
const COLD_START_ENV = {
  PATH: process.env.PATH ?? '',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  [ENV.tableName]: 'table',
  [ENV.callbackUrl]: 'http://127.0.0.1:9/prod',
  [ENV.rejectedQueueUrl]: 'http://127.0.0.1:9/000000000000/rejected',
  [ENV.jwtSecret]: 'a-local-secret-of-at-least-32-characters',
  [ENV.fanoutTopicArn]: 'arn:aws:sns:us-east-1:000000000000:fanout',
  [ENV.topicArn]: 'arn:aws:sns:us-east-1:000000000000:pushline',
  POWERTOOLS_METRICS_DISABLED: 'true',
};

interface Bundle {
  readonly bytes: number;
  readonly path: string;
  readonly sdkPackages: string[];
  /** Output bytes by origin: `aws-sdk` (every @aws-sdk and @smithy package), `pushline`, or the package. */
  readonly byOrigin: Record<string, number>;
}

/** Where an input of the bundle comes from, for the size breakdown. */
function originOf(path: string): string {
  const match = path.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (!match?.[1]) return 'pushline';
  if (/^@(aws-sdk|smithy|aws-crypto)\//.test(match[1])) return 'aws-sdk';
  if (match[1].startsWith('@aws-lambda-powertools/')) return 'powertools';
  return match[1];
}

async function bundle(input: { entry: string } | { source: string }, outfile: string): Promise<Bundle> {
  const result = await build({
    ...('entry' in input
      ? { entryPoints: [input.entry] }
      : { stdin: { contents: input.source, resolveDir: process.cwd(), loader: 'js' as const } }),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    mainFields: ['module', 'main'],
    banner: { js: BANNER },
    outfile,
    metafile: true,
    logLevel: 'warning',
  });
  const metafile = result.metafile as Metafile;
  const packages = new Set<string>();
  for (const path of Object.keys(metafile.inputs)) {
    const match = path.match(/node_modules\/(@aws-sdk\/[^/]+)/);
    if (match?.[1] && SDK_CLIENTS[match[1]]) packages.add(match[1]);
  }
  const output = Object.values(metafile.outputs)[0];
  const byOrigin: Record<string, number> = {};
  for (const [path, input] of Object.entries(output?.inputs ?? {})) {
    const origin = originOf(path);
    byOrigin[origin] = (byOrigin[origin] ?? 0) + input.bytesInOutput;
  }
  return { bytes: output?.bytes ?? 0, path: outfile, sdkPackages: [...packages].sort(), byOrigin };
}

/** A module that loads and constructs exactly these SDK clients, as a function does at cold start. */
function sdkOnlySource(packages: readonly string[]): string {
  const imports = packages.map((name, i) => `import { ${SDK_CLIENTS[name]} as C${i} } from '${name}';`);
  const dynamo = packages.indexOf('@aws-sdk/client-dynamodb');
  const clients = packages
    .map((name, i) => (name === '@aws-sdk/lib-dynamodb' ? `C${i}.from(new C${dynamo}({}))` : `new C${i}({})`))
    .join(', ');
  return `${imports.join('\n')}\nexport const clients = [${clients}];\nexport const handler = async () => clients.length;\n`;
}

interface Init {
  /** Median wall time of a fresh process that imports the module and exits, ms. */
  readonly processMs: number;
  /** Median time of the `import()` alone inside that process, ms. */
  readonly importMs: number;
}

function measureInit(node: string, path: string): Init {
  const script = `const t = performance.now(); const m = await import(${JSON.stringify(path)}); if (typeof m.handler !== 'function') throw new Error('no handler'); process.stdout.write(String(performance.now() - t));`;
  const processes: number[] = [];
  const imports: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    const result = spawnSync(node, ['--input-type=module', '-e', script], {
      env: COLD_START_ENV,
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (result.status !== 0) throw new Error(`${path} failed to load: ${result.stderr.slice(0, 500)}`);
    processes.push(Number(process.hrtime.bigint() - started) / 1e6);
    imports.push(Number(result.stdout));
  }
  return { processMs: median(processes), importMs: median(imports) };
}

interface Row {
  readonly name: string;
  readonly bytes: number;
  readonly sdkOnlyBytes: number;
  readonly sizeOverSdk: number;
  readonly sdkPackages: string[];
  /** KB of the function's bundle by origin (what the SDK-only bundle lacks is what it adds). */
  readonly kbByOrigin: Record<string, number>;
  readonly init: Init;
  readonly sdkOnlyInit: Init;
  readonly initOverHello: number;
  readonly initOverSdkOnly: number;
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

async function main(): Promise<void> {
  const node = existsSync(NODE_22) ? NODE_22 : process.execPath;
  const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const dir = await mkdtemp(join(tmpdir(), 'pushline-cold-'));
  try {
    console.error(`bench:cold: ${RUNS} cold starts per module under Node ${nodeVersion}`);
    const helloPath = join(dir, 'hello.mjs');
    await writeFile(helloPath, 'export const handler = async () => ({ statusCode: 200 });\n');
    const hello = measureInit(node, helloPath);
    console.error(`  hello world: ${hello.processMs.toFixed(1)} ms`);
    const rows: Row[] = [];
    for (const name of FUNCTIONS) {
      const fn = await bundle({ entry: `functions/${name}.ts` }, join(dir, `${name}.mjs`));
      const sdkOnly = await bundle({ source: sdkOnlySource(fn.sdkPackages) }, join(dir, `${name}-sdk.mjs`));
      const init = measureInit(node, fn.path);
      const sdkOnlyInit = measureInit(node, sdkOnly.path);
      const row: Row = {
        name,
        bytes: fn.bytes,
        sdkOnlyBytes: sdkOnly.bytes,
        sizeOverSdk: round(fn.bytes / sdkOnly.bytes - 1, 3),
        sdkPackages: fn.sdkPackages,
        kbByOrigin: Object.fromEntries(
          Object.entries(fn.byOrigin)
            .sort((a, b) => b[1] - a[1])
            .map(([origin, bytes]) => [origin, round(bytes / 1024, 1)]),
        ),
        init,
        sdkOnlyInit,
        initOverHello: round(init.processMs / hello.processMs),
        initOverSdkOnly: round(init.processMs / sdkOnlyInit.processMs),
      };
      rows.push(row);
      console.error(
        `  ${name}: ${(fn.bytes / 1024).toFixed(0)} KB, init ${init.processMs.toFixed(1)} ms (SDK only ${sdkOnlyInit.processMs.toFixed(1)} ms)`,
      );
    }
    print(rows, hello);
    await mkdir('bench/results', { recursive: true });
    const results = {
      benchmark: 'cold',
      at: new Date().toISOString(),
      node: nodeVersion,
      runs: RUNS,
      targets: { sizeOverSdkAtMost: 0.1, initOverHelloAtMost: 1.5 },
      hello,
      functions: rows,
    };
    await writeFile('bench/results/cold.json', `${JSON.stringify(results, null, 2)}\n`);
    await writeFile(
      'bench/results/cold.svg',
      barChart({
        title: `Cold module init, fresh Node ${nodeVersion} process (median of ${RUNS})`,
        unit: 'ms',
        groups: rows.map((row) => ({
          label: row.name,
          bars: [
            { series: 'function', value: row.init.processMs },
            { series: 'its SDK clients only', value: row.sdkOnlyInit.processMs },
          ],
        })),
        lines: [
          { label: 'hello world', value: hello.processMs },
          { label: '1.5× hello world (target)', value: hello.processMs * 1.5 },
        ],
      }),
    );
    console.error('written to bench/results/cold.json and cold.svg');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function print(rows: readonly Row[], hello: Init): void {
  const pct = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)} %`;
  console.log(
    `\nBundle size (target: at most +10 % over the SDK clients alone) and cold init (target: at most 1.5× hello world, ${hello.processMs.toFixed(1)} ms)\n`,
  );
  console.log(
    '| function | bundle | SDK clients only | over SDK | init | SDK-only init | × hello | × SDK-only | import alone |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    console.log(
      `| ${row.name} | ${(row.bytes / 1024).toFixed(0)} KB | ${(row.sdkOnlyBytes / 1024).toFixed(0)} KB | ${pct(row.sizeOverSdk)} | ` +
        `${row.init.processMs.toFixed(1)} ms | ${row.sdkOnlyInit.processMs.toFixed(1)} ms | ${row.initOverHello.toFixed(2)} | ` +
        `${row.initOverSdkOnly.toFixed(2)} | ${row.init.importMs.toFixed(1)} ms |`,
    );
  }
  const worstSize = rows.reduce((a, b) => (b.sizeOverSdk > a.sizeOverSdk ? b : a));
  const worstInit = rows.reduce((a, b) => (b.initOverHello > a.initOverHello ? b : a));
  const sizeMet = rows.filter((row) => row.sizeOverSdk <= 0.1).length;
  const initMet = rows.filter((row) => row.initOverHello <= 1.5).length;
  console.log(
    `\nTarget (bundle at most +10 % over its SDK clients alone): met by ${sizeMet} of ${rows.length} functions; the largest, ${worstSize.name}, ${pct(worstSize.sizeOverSdk)}${worstSize.sizeOverSdk > 0.1 ? `, missed by ${((worstSize.sizeOverSdk - 0.1) * 100).toFixed(1)} points` : ''}.`,
  );
  console.log(
    `Target (cold init at most 1.5× hello world's): met by ${initMet} of ${rows.length}; the slowest, ${worstInit.name}, ${worstInit.initOverHello.toFixed(2)}× (its SDK clients alone: ${worstInit.sdkOnlyInit.processMs.toFixed(1)} ms, ${(worstInit.sdkOnlyInit.processMs / hello.processMs).toFixed(2)}×).`,
  );
  console.log('\nWhat each bundle holds beside the SDK (KB):');
  for (const row of rows) {
    const extra = Object.entries(row.kbByOrigin).filter(([origin]) => origin !== 'aws-sdk');
    console.log(`  ${row.name}: ${extra.map(([origin, kb]) => `${origin} ${kb}`).join(', ')}`);
  }
}

await main();
