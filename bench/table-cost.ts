/**
 * `npm run bench:cost`: DynamoDB requests and capacity units the deliver function spends per stored
 * message per user (connection lookup included), for this tree and for the previous design
 * (commit {@link BASELINE_COMMIT}), measured the same way.
 *
 * Each tree runs in its own process: the real `functions/deliver.ts` handler is imported in-process
 * (so it cold-starts with this process's environment) and called with SNS events built here, against
 * DynamoDB Local holding a table created from that tree's CDK template, and a 127.0.0.1 HTTP server
 * answering the management API's posts with 200. SDK middleware on the functions' document client
 * asks every request for `ReturnConsumedCapacity: 'INDEXES'` and adds up what DynamoDB Local reports.
 *
 * Usage:
 *   npm run bench:cost                                       this tree and the baseline, side by side
 *   node --import tsx bench/table-cost.ts --root <dir>       one tree only (prints, and --out <file>)
 *   node --import tsx bench/table-cost.ts --root <old tree> --write-baseline
 *                                                            refreshes bench/results/table-cost-baseline.json
 * Options: --messages N (200), --users N (10); the baseline is read from that file when `git` cannot
 * extract the baseline commit.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type AttributeDefinition,
  type ConsumedCapacity,
  CreateTableCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type LocalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context, SNSEvent } from 'aws-lambda';

/** The previous design: before one conditional put per user stored message and marker together. */
const BASELINE_COMMIT = '4dddd79';
const HERE = dirname(fileURLToPath(import.meta.url));
const PROJECT_ROOT = resolve(HERE, '..');
const RESULTS_FILE = join(HERE, 'results', 'table-cost.json');
const BASELINE_FILE = join(HERE, 'results', 'table-cost-baseline.json');

const REGION = 'us-east-1';
const LOOPBACK = '127.0.0.1';
const STAGE = 'prod';
const TABLE_NAME = 'pushline-table-cost';
const TOPIC_ARN = `arn:aws:sns:${REGION}:000000000000:pushline-topic`;
/** Users with connection rows; the messages address the first `--users` of them. */
const CONNECTED_USERS = 100;
const DEVICES_PER_USER = 2;
/** Bounds: the whole measurement of one tree, and each child process of the default run. */
const TREE_LIMIT_MS = 240_000;
const CHILD_LIMIT_MS = TREE_LIMIT_MS + 60_000;
const MAX_MESSAGES = 2_000;
const MAX_USERS = CONNECTED_USERS;

const READ_OPERATIONS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);

/** Per stored message per user, or in total, for one workload. */
interface Cost {
  /** Requests by operation (`PutItem`, `Query`, …), failed ones included. */
  readonly requests: Record<string, number>;
  readonly totalRequests: number;
  /** Requests that failed (e.g. ConditionalCheckFailed); DynamoDB reports no capacity for them. */
  readonly failedRequests: Record<string, number>;
  /** Write capacity units as DynamoDB Local reported them (table and indexes). */
  readonly wcu: number;
  readonly rcu: number;
  /** The same capacity split by table and index (`wcu:table`, `wcu:lsi:bySeq`, `rcu:table`, …). */
  readonly capacityByTarget: Record<string, number>;
  /** SDK retries (`$metadata.attempts` - 1) behind the requests counted. */
  readonly sdkRetries: number;
}

/** One workload against one tree. */
interface RunResult {
  readonly name: string;
  readonly description: string;
  readonly messages: number;
  readonly usersPerMessage: number;
  /** messages × users: the divisor of `perUser`. */
  readonly userDeliveries: number;
  readonly handlerErrors: number;
  readonly firstError?: string;
  /** Management API posts answered (2 connections per user). */
  readonly posts: number;
  readonly seconds: number;
  /** Stopped by the time bound before every message was sent. */
  readonly truncated: boolean;
  readonly total: Cost;
  readonly perUser: Cost;
}

/** Everything measured for one tree. */
interface TreeResult {
  readonly label: string;
  readonly root: string;
  readonly commit: string;
  /** Uncommitted changes under functions/ or infra/ when measured (others may be editing). */
  readonly uncommittedChanges: boolean;
  readonly engine: string;
  readonly table: { readonly keys: string; readonly gsis: string[]; readonly lsis: string[] };
  readonly envelopeBytes: number;
  readonly runs: readonly RunResult[];
}

interface Options {
  readonly root?: string;
  readonly out?: string;
  readonly label?: string;
  /** The tree's commit when it has no .git of its own (an extracted archive). */
  readonly commit?: string;
  readonly writeBaseline: boolean;
  readonly messages: number;
  readonly users: number;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    if (index === -1) return undefined;
    const next = argv[index + 1];
    if (next === undefined || next.startsWith('--')) throw new Error(`${flag} needs a value`);
    return next;
  };
  const int = (flag: string, fallback: number, max: number): number => {
    const raw = value(flag);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${flag} must be an integer 1..${max}`);
    return n;
  };
  const root = value('--root') ?? process.env.BENCH_ROOT;
  return {
    root: root === undefined ? undefined : resolve(root),
    out: value('--out'),
    label: value('--label'),
    commit: value('--commit'),
    writeBaseline: argv.includes('--write-baseline'),
    messages: int('--messages', 200, MAX_MESSAGES),
    users: int('--users', 10, MAX_USERS),
  };
}

// ---------------------------------------------------------------------------------------------
// Counting

/** Adds up requests and consumed capacity; `perUser` divides by the user deliveries of a run. */
class Tally {
  private requests = new Map<string, number>();
  private failed = new Map<string, number>();
  private capacity = new Map<string, number>();
  private wcu = 0;
  private rcu = 0;
  private retries = 0;

  reset(): void {
    this.requests.clear();
    this.failed.clear();
    this.capacity.clear();
    this.wcu = 0;
    this.rcu = 0;
    this.retries = 0;
  }

  succeeded(operation: string, consumed: unknown, attempts: number | undefined): void {
    this.count(operation, attempts);
    const list = (Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed]) as
      | ConsumedCapacity[]
      | [];
    for (const item of list) {
      const units = item.CapacityUnits ?? 0;
      const read = READ_OPERATIONS.has(operation);
      if (read) this.rcu += units;
      else this.wcu += units;
      const kind = read ? 'rcu' : 'wcu';
      this.add(`${kind}:table`, item.Table?.CapacityUnits);
      for (const [name, index] of Object.entries(item.LocalSecondaryIndexes ?? {}))
        this.add(`${kind}:lsi:${name}`, index.CapacityUnits);
      for (const [name, index] of Object.entries(item.GlobalSecondaryIndexes ?? {}))
        this.add(`${kind}:gsi:${name}`, index.CapacityUnits);
      if (item.Table === undefined) this.add(`${kind}:unsplit`, units);
    }
  }

  failedWith(operation: string, error: unknown): void {
    const attempts = (error as { $metadata?: { attempts?: number } }).$metadata?.attempts;
    this.count(operation, attempts);
    const name = error instanceof Error ? error.name : 'Error';
    const key = `${operation}:${name}`;
    this.failed.set(key, (this.failed.get(key) ?? 0) + 1);
  }

  snapshot(divisor = 1): Cost {
    const scaled = (map: Map<string, number>) =>
      Object.fromEntries(
        [...map].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, round(v / divisor)]),
      );
    const total = [...this.requests.values()].reduce((sum, n) => sum + n, 0);
    return {
      requests: scaled(this.requests),
      totalRequests: round(total / divisor),
      failedRequests: scaled(this.failed),
      wcu: round(this.wcu / divisor),
      rcu: round(this.rcu / divisor),
      capacityByTarget: scaled(this.capacity),
      sdkRetries: round(this.retries / divisor),
    };
  }

  private count(operation: string, attempts: number | undefined): void {
    this.requests.set(operation, (this.requests.get(operation) ?? 0) + 1);
    if (attempts !== undefined && attempts > 1) this.retries += attempts - 1;
  }

  private add(target: string, units: number | undefined): void {
    if (units !== undefined) this.capacity.set(target, (this.capacity.get(target) ?? 0) + units);
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** Asks every request for its consumed capacity and counts it, failures included. */
function instrument(client: DynamoDBDocumentClient, tally: Tally): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
      const input = { ...(args.input as object), ReturnConsumedCapacity: 'INDEXES' };
      try {
        const result = await next({ ...args, input } as typeof args);
        const output = result.output as { ConsumedCapacity?: unknown; $metadata?: { attempts?: number } };
        tally.succeeded(operation, output.ConsumedCapacity, output.$metadata?.attempts);
        return result;
      } catch (error) {
        tally.failedWith(operation, error);
        throw error;
      }
    },
    { step: 'initialize', name: 'benchTableCost' },
  );
}

// ---------------------------------------------------------------------------------------------
// One tree

/** What the bench needs from a tree's modules (both designs export these under the same paths). */
interface TreeModules {
  handler(
    event: SNSEvent,
    context?: Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'>,
  ): Promise<unknown>;
  dynamo: DynamoDBDocumentClient;
  putConnection(tableName: string, record: Record<string, unknown>): Promise<void>;
}

async function importFrom<T>(root: string, path: string): Promise<T> {
  return (await import(pathToFileURL(join(root, path)).href)) as T;
}

/** The first of `paths` that exists under `root` (the emulator folder moved from local/ to emulator/). */
function firstExisting(root: string, paths: readonly string[]): string {
  const found = paths.find((path) => existsSync(join(root, path)));
  if (found === undefined) throw new Error(`none of ${paths.join(', ')} under ${root}`);
  return found;
}

async function synthesize(root: string): Promise<object> {
  type Synth = { synthesizeTemplate?: () => Promise<object> };
  for (const path of [
    'local/pushline-template.ts',
    'local/template-topology.ts',
    'emulator/template-topology.ts',
  ]) {
    if (!existsSync(join(root, path))) continue;
    const module = await importFrom<Synth>(root, path);
    if (typeof module.synthesizeTemplate === 'function') return module.synthesizeTemplate();
  }
  throw new Error(`no synthesizeTemplate under ${root}`);
}

interface CfnTableProps {
  readonly AttributeDefinitions: AttributeDefinition[];
  readonly KeySchema: KeySchemaElement[];
  readonly GlobalSecondaryIndexes?: GlobalSecondaryIndex[];
  readonly LocalSecondaryIndexes?: LocalSecondaryIndex[];
}

/** The template's only table, with its keys and indexes (projections included) as CDK wrote them. */
function tableProps(template: object): CfnTableProps {
  const resources = Object.values((template as { Resources?: Record<string, unknown> }).Resources ?? {}) as {
    Type: string;
    Properties?: CfnTableProps;
  }[];
  const tables = resources.filter((resource) => resource.Type === 'AWS::DynamoDB::Table');
  const props = tables[0]?.Properties;
  if (tables.length !== 1 || props === undefined)
    throw new Error(`expected one table in the template, found ${tables.length}`);
  return props;
}

async function createTable(endpoint: string, props: CfnTableProps): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: TABLE_NAME,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: props.AttributeDefinitions,
        KeySchema: props.KeySchema,
        GlobalSecondaryIndexes: props.GlobalSecondaryIndexes?.map((index) => ({
          IndexName: index.IndexName,
          KeySchema: index.KeySchema,
          Projection: index.Projection,
        })),
        LocalSecondaryIndexes: props.LocalSecondaryIndexes?.map((index) => ({
          IndexName: index.IndexName,
          KeySchema: index.KeySchema,
          Projection: index.Projection,
        })),
      }),
    );
  } finally {
    client.destroy();
  }
}

/** Stands in for the stage's management API: every post to a connection is answered 200. */
async function startManagementApi(): Promise<{ server: Server; url: string; posts: () => number }> {
  let posts = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const isPost = req.method === 'POST' && /^\/[^/]+\/@connections\/[^/]+$/.test(req.url ?? '');
      if (isPost) posts++;
      res.writeHead(isPost ? 200 : 404, { 'content-type': 'application/json' }).end(isPost ? '' : '{}');
    });
  });
  await new Promise<void>((done) => server.listen(0, LOOPBACK, done));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, url: `http://${LOOPBACK}:${port}/${STAGE}`, posts: () => posts };
}

function snsEvent(envelope: object, messageId: string): SNSEvent {
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: `${TOPIC_ARN}:bench`,
        Sns: {
          Type: 'Notification',
          MessageId: messageId,
          TopicArn: TOPIC_ARN,
          Subject: '',
          Message: JSON.stringify(envelope),
          Timestamp: new Date().toISOString(),
          SignatureVersion: '1',
          Signature: '',
          SigningCertUrl: '',
          UnsubscribeUrl: '',
          MessageAttributes: {},
        },
      },
    ],
  };
}

const userId = (n: number) => `user-${String(n).padStart(3, '0')}`;

function gitOutput(cwd: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Measures the tree at `root` in this process (its deliver module cold-starts once, here). */
async function measureTree(root: string, options: Options): Promise<TreeResult> {
  const started = Date.now();
  const deadline = started + TREE_LIMIT_MS;
  const dynamoModule = firstExisting(root, ['emulator/aws/dynamodb.ts', 'local/aws/dynamodb.ts']);
  const { startDynamo } = await importFrom<{
    startDynamo(options: { engine: 'dynamodb-local' }): Promise<{
      endpoint: string;
      engine: string;
      close(): Promise<void>;
    }>;
  }>(root, dynamoModule);
  const props = tableProps(await synthesize(root));
  const dynamo = await startDynamo({ engine: 'dynamodb-local' });
  const api = await startManagementApi();
  try {
    await createTable(dynamo.endpoint, props);
    const { ENV } = await importFrom<{ ENV: Record<string, string> }>(
      root,
      'functions/shared/environment.ts',
    );
    const env = (name: string) => {
      const value = ENV[name];
      if (value === undefined) throw new Error(`ENV.${name} missing in ${root}`);
      return value;
    };
    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      [env('tableName')]: TABLE_NAME,
      [env('callbackUrl')]: api.url,
      // Never used: every envelope here is valid.
      [env('rejectedQueueUrl')]: `http://${LOOPBACK}:9/000000000000/rejected`,
    });
    delete process.env.AWS_PROFILE;

    const modules: TreeModules = {
      ...(await importFrom<Pick<TreeModules, 'dynamo'>>(root, 'functions/adapters/dynamo-client.ts')),
      ...(await importFrom<Pick<TreeModules, 'putConnection'>>(
        root,
        'functions/adapters/connection-store.ts',
      )),
      ...(await importFrom<Pick<TreeModules, 'handler'>>(root, 'functions/deliver.ts')),
    };
    const tally = new Tally();
    instrument(modules.dynamo, tally);

    // Connections opened a minute ago (outside the connect window), live for hours.
    const nowMs = Date.now();
    for (let user = 0; user < CONNECTED_USERS; user++) {
      for (let device = 0; device < DEVICES_PER_USER; device++) {
        await modules.putConnection(TABLE_NAME, {
          userId: userId(user),
          connectionId: `conn-${user}-${device}`,
          connectedAt: nowMs - 60_000,
          expiresAt: Math.floor(nowMs / 1000) + 3 * 60 * 60,
        });
      }
    }

    const users = Array.from({ length: options.users }, (_, n) => userId(n));
    const envelope = (id: string, n: number, persist: boolean) => ({
      v: 1,
      id,
      to: { users },
      type: 't',
      ...(persist ? {} : { persist: false }),
      data: { n, text: 'table cost bench' },
    });
    const stored = Array.from({ length: options.messages }, (_, n) =>
      snsEvent(envelope(`stored-${n}`, n, true), randomUUID()),
    );
    const pushOnly = Array.from({ length: options.messages }, (_, n) =>
      snsEvent(envelope(`push-${n}`, n, false), randomUUID()),
    );

    const run = async (
      name: string,
      description: string,
      events: readonly SNSEvent[],
      requestIds: string[],
    ): Promise<RunResult> => {
      tally.reset();
      const postsBefore = api.posts();
      const runStarted = Date.now();
      let sent = 0;
      let handlerErrors = 0;
      let firstError: string | undefined;
      for (const [index, event] of events.entries()) {
        if (Date.now() >= deadline) break;
        requestIds[index] ??= randomUUID();
        const awsRequestId = requestIds[index] ?? randomUUID();
        try {
          await modules.handler(event, { awsRequestId, getRemainingTimeInMillis: () => 50_000 });
        } catch (error) {
          handlerErrors++;
          firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        }
        sent++;
      }
      const userDeliveries = sent * users.length;
      return {
        name,
        description,
        messages: sent,
        usersPerMessage: users.length,
        userDeliveries,
        handlerErrors,
        ...(firstError !== undefined ? { firstError } : {}),
        posts: api.posts() - postsBefore,
        seconds: round((Date.now() - runStarted) / 1000),
        truncated: sent < events.length,
        total: tally.snapshot(),
        perUser: tally.snapshot(Math.max(1, userDeliveries)),
      };
    };

    // Request ids of the first delivery of each stored event, reused by the last run.
    const storedIds: string[] = [];
    const runs = [
      await run('stored', 'new message, persist: true (stored in the inbox and pushed)', stored, storedIds),
      await run('pushOnly', 'new message, persist: false (pushed only)', pushOnly, []),
      await run(
        'replay',
        'the stored events again, new request ids (an SNS duplicate or a DLQ replay)',
        stored,
        [],
      ),
      await run(
        'sameId',
        'the stored events again with the request id of their first delivery',
        stored,
        storedIds,
      ),
    ];
    const status = gitOutput(root, ['status', '--porcelain', '--', 'functions', 'infra']);
    const first = stored[0]?.Records[0]?.Sns.Message ?? '';
    return {
      label: options.label ?? (relative(PROJECT_ROOT, root) || root),
      root,
      commit: options.commit ?? gitOutput(root, ['rev-parse', 'HEAD']) ?? 'unknown',
      uncommittedChanges: status === undefined ? false : status.length > 0,
      engine: dynamo.engine,
      table: {
        keys: props.KeySchema.map((key) => `${key.AttributeName} ${key.KeyType}`).join(', '),
        gsis: (props.GlobalSecondaryIndexes ?? []).map(
          (index) => `${index.IndexName} (${index.Projection?.ProjectionType})`,
        ),
        lsis: (props.LocalSecondaryIndexes ?? []).map(
          (index) => `${index.IndexName} (${index.Projection?.ProjectionType})`,
        ),
      },
      envelopeBytes: Buffer.byteLength(first),
      runs,
    };
  } finally {
    await new Promise<void>((done) => api.server.close(() => done()));
    api.server.closeAllConnections();
    await dynamo.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Output

function printTree(tree: TreeResult): void {
  console.log(
    `\n${tree.label} (${tree.commit.slice(0, 7)}${tree.uncommittedChanges ? ', uncommitted changes' : ''})`,
  );
  console.log(
    `  table: ${tree.table.keys}; GSIs: ${tree.table.gsis.join(', ') || 'none'}; LSIs: ${tree.table.lsis.join(', ') || 'none'}`,
  );
  for (const run of tree.runs) {
    const p = run.perUser;
    console.log(
      `  ${run.name.padEnd(9)} ${fmt(p.totalRequests)} req  ${fmt(p.wcu)} WCU  ${fmt(p.rcu)} RCU  ` +
        `per user per message   [${describe(p.requests)}]` +
        (Object.keys(p.failedRequests).length > 0 ? ` failed: [${describe(p.failedRequests)}]` : '') +
        `  capacity: [${describe(p.capacityByTarget)}]` +
        `  (${run.userDeliveries} user deliveries, ${run.posts} posts, ${run.handlerErrors} handler errors` +
        `${run.truncated ? ', TRUNCATED by the time bound' : ''})`,
    );
  }
}

function printComparison(current: TreeResult, baseline: TreeResult, baselineSource: string): void {
  console.log(
    '\nPer stored message per user (connection lookup included); DynamoDB Local, ReturnConsumedCapacity INDEXES',
  );
  console.log(
    `new = ${current.label} @ ${current.commit.slice(0, 7)}${current.uncommittedChanges ? ' + uncommitted changes' : ''}`,
  );
  console.log(`old = ${BASELINE_COMMIT}, ${baselineSource}`);
  const header = [
    'workload',
    'requests new',
    'requests old',
    'WCU new',
    'WCU old',
    'RCU new',
    'RCU old',
    'failed new',
    'failed old',
    'posts/user new',
    'posts/user old',
  ];
  const rows = current.runs.map((run) => {
    const old = baseline.runs.find((candidate) => candidate.name === run.name);
    return [
      run.name,
      fmt(run.perUser.totalRequests),
      old ? fmt(old.perUser.totalRequests) : '-',
      fmt(run.perUser.wcu),
      old ? fmt(old.perUser.wcu) : '-',
      fmt(run.perUser.rcu),
      old ? fmt(old.perUser.rcu) : '-',
      fmt(failedCount(run)),
      old ? fmt(failedCount(old)) : '-',
      fmt(run.posts / Math.max(1, run.userDeliveries)),
      old ? fmt(old.posts / Math.max(1, old.userDeliveries)) : '-',
    ];
  });
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  const storedRun = current.runs.find((run) => run.name === 'stored');
  if (storedRun !== undefined) {
    const met = storedRun.perUser.totalRequests <= 3 && storedRun.perUser.wcu <= 3;
    console.log(
      `\ntarget (stored, ${current.envelopeBytes}-byte envelope): <= 3 requests and <= 3 WCU per user: ` +
        `${met ? 'met' : 'NOT met'} (${fmt(storedRun.perUser.totalRequests)} requests, ${fmt(storedRun.perUser.wcu)} WCU)`,
    );
  }
  console.log(
    'failed = failed conditional writes per user: DynamoDB reports no capacity for them (WCU above excludes them);\n' +
      'on AWS each still costs >= 1 WCU (1 for an item under 1 KB).',
  );
}

const fmt = (n: number) => n.toFixed(2);
/** Failed requests per user delivery (all of them conditional writes in these workloads). */
const failedCount = (run: RunResult) =>
  Object.values(run.perUser.failedRequests).reduce((sum, n) => sum + n, 0);
const describe = (map: Record<string, number>) =>
  Object.entries(map)
    .map(([key, n]) => `${key} ${fmt(n)}`)
    .join(', ');

// ---------------------------------------------------------------------------------------------
// Default run: both trees, each in its own process

async function measureInChild(
  root: string,
  label: string,
  options: Options,
  commit?: string,
): Promise<TreeResult> {
  const dir = await mkdtemp(join(tmpdir(), 'pushline-table-cost-'));
  const out = join(dir, 'result.json');
  try {
    const args = [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--root',
      root,
      '--label',
      label,
      '--out',
      out,
      '--messages',
      String(options.messages),
      '--users',
      String(options.users),
      ...(commit === undefined ? [] : ['--commit', commit]),
    ];
    await new Promise<void>((done, fail) => {
      const child = spawn(process.execPath, args, {
        cwd: PROJECT_ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      const timer = setTimeout(() => child.kill('SIGTERM'), CHILD_LIMIT_MS);
      child.once('error', fail);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) done();
        else fail(new Error(`measuring ${label} exited with ${code ?? signal}`));
      });
    });
    return JSON.parse(await readFile(out, 'utf8')) as TreeResult;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Extracts the baseline commit into a temporary folder sharing this tree's node_modules. */
async function extractBaseline(): Promise<{ root: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pushline-baseline-'));
  try {
    const archive = execFileSync('git', ['archive', '--format=tar', BASELINE_COMMIT], {
      cwd: PROJECT_ROOT,
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    await symlink(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'));
    return { root: dir, remove: () => rm(dir, { recursive: true, force: true }) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function defaultRun(options: Options): Promise<void> {
  const current = await measureInChild(PROJECT_ROOT, 'new (this tree)', options);
  let baseline: TreeResult;
  let baselineSource: string;
  try {
    const extracted = await extractBaseline();
    try {
      const commit = gitOutput(PROJECT_ROOT, ['rev-parse', BASELINE_COMMIT]) ?? BASELINE_COMMIT;
      const measured = await measureInChild(extracted.root, `old (${BASELINE_COMMIT})`, options, commit);
      baseline = { ...measured, root: `git archive ${BASELINE_COMMIT}`, uncommittedChanges: false };
      baselineSource = 'measured in this run from `git archive` of that commit';
    } finally {
      await extracted.remove();
    }
  } catch (error) {
    console.error(
      `\ncould not measure ${BASELINE_COMMIT} now (${(error as Error).message}); using ${relative(PROJECT_ROOT, BASELINE_FILE)}`,
    );
    const file = JSON.parse(await readFile(BASELINE_FILE, 'utf8')) as { date: string; baseline: TreeResult };
    baseline = file.baseline;
    baselineSource = `NOT measured now: figures from ${relative(PROJECT_ROOT, BASELINE_FILE)}, written ${file.date} from commit ${baseline.commit}`;
  }
  printComparison(current, baseline, baselineSource);
  await mkdir(dirname(RESULTS_FILE), { recursive: true });
  await writeFile(
    RESULTS_FILE,
    `${JSON.stringify({ ...environment(), workload: workload(options), baselineSource, new: current, old: baseline }, null, 2)}\n`,
  );
  console.log(`\nwritten to ${relative(process.cwd(), RESULTS_FILE)}`);
}

function environment() {
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    machine: {
      platform: `${platform()} ${release()}`,
      cpu: `${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
      memoryGb: round(totalmem() / 1024 ** 3),
    },
    node: process.version,
    commit: gitOutput(PROJECT_ROOT, ['rev-parse', 'HEAD']) ?? 'unknown',
  };
}

function workload(options: Options) {
  return {
    messagesPerRun: options.messages,
    usersPerMessage: options.users,
    connectedUsers: CONNECTED_USERS,
    devicesPerUser: DEVICES_PER_USER,
    engine: 'DynamoDB Local (in memory), table from the CDK template',
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.root === undefined) {
    await defaultRun(options);
    return;
  }
  const tree = await measureTree(options.root, options);
  printTree(tree);
  if (options.out !== undefined) await writeFile(options.out, `${JSON.stringify(tree, null, 2)}\n`);
  if (options.writeBaseline) {
    await mkdir(dirname(BASELINE_FILE), { recursive: true });
    await writeFile(
      BASELINE_FILE,
      `${JSON.stringify({ ...environment(), workload: workload(options), baseline: tree }, null, 2)}\n`,
    );
    console.log(`written to ${relative(process.cwd(), BASELINE_FILE)}`);
  }
}

// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

main().then(
  // The deliver module's keep-alive agents would keep the process alive.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
