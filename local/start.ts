import { PortInUseError } from '../emulator/errors.ts';
import { type LocalOutputs, OUTPUTS_FILE, writeOutputs } from './outputs.ts';
import { LOCAL_DEMO_CONTEXT, startLocalStack } from './stack.ts';

/**
 * `npm start`: the whole stack on this machine, no Docker and no AWS account.
 * Flags: --gateway-port, --aws-port, --console-port (defaults 3001, 4566, 3000),
 * --dynamo auto|dynamodb-local|dynalite, --idle-timeout-ms, --max-connection-ms, --quiet,
 * --fault-latency-ms and --fault-error-percent (on the @connections management API),
 * --connect-hold-ms (holds each $connect open that long before the handshake completes),
 * --persist (tables kept in .pushline/data across restarts), --no-reload (no hot reload),
 * --strict-iam (each function's calls authorized against its role's policies in the template).
 */
// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const USAGE = `Usage: npm start [-- <options>]: the whole Pushline stack on this machine (no Docker, no AWS).

  --gateway-port <n>        WebSocket gateway and @connections (default 3001)
  --aws-port <n>            SNS, SQS and DynamoDB endpoint (default 4566)
  --console-port <n>        the message center page (default 3000)
  --dynamo <engine>         auto (default), dynamodb-local (needs Java) or dynalite
  --idle-timeout-ms <n>     close idle connections after n ms (default 600000, as AWS)
  --max-connection-ms <n>   close every connection after n ms (default 7200000, as AWS)
  --connect-hold-ms <n>     hold each handshake n ms after $connect (a fault knob)
  --fault-latency-ms <n>    add n ms to every @connections call (a fault knob)
  --fault-error-percent <n> answer n % of @connections calls with 429 (a fault knob)
  --persist                 keep the tables (inboxes, preferences, devices) in .pushline/data
                            across restarts; queues stay in memory
  --no-reload               do not pick up changed handlers (by default a change under
                            functions/ reaches the next invocation without a restart)
  --strict-iam              authorize each function's DynamoDB, SNS, SQS and @connections
                            calls against its role's policies in the template; a missing
                            grant fails with AccessDenied, as on AWS
  --quiet                   no log line per request
  --help, -h                this text

Reference: docs/local-runtime.md`;
const VALUE_OPTIONS = [
  'gateway-port',
  'aws-port',
  'console-port',
  'dynamo',
  'idle-timeout-ms',
  'max-connection-ms',
  'connect-hold-ms',
  'fault-latency-ms',
  'fault-error-percent',
];
const FLAG_OPTIONS = ['quiet', 'help', 'persist', 'no-reload', 'strict-iam'];
/** Where --persist keeps the tables. */
const PERSIST_DIR = '.pushline/data';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const args = parseArgs(process.argv.slice(2));
const started = Date.now();
console.log('Pushline local stack starting…');

// Signal handlers come first, so that Ctrl-C while the stack is still starting also stops it cleanly.
let starting: ReturnType<typeof startLocalStack> | undefined;
let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping…`);
  const stack = await starting?.catch(() => undefined);
  await stack?.stop();
  console.log('Stopped.');
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

try {
  starting = startLocalStack({
    ports: {
      gateway: args.int('gateway-port', 3001),
      aws: args.int('aws-port', 4566),
      console: args.int('console-port', 3000),
    },
    dynamo: args.choice('dynamo', ['auto', 'dynamodb-local', 'dynalite'] as const, 'auto'),
    idleTimeoutMs: args.optionalInt('idle-timeout-ms'),
    maxConnectionMs: args.optionalInt('max-connection-ms'),
    connectHoldMs: args.optionalInt('connect-hold-ms'),
    context: LOCAL_DEMO_CONTEXT,
    quiet: args.flag('quiet'),
    persistDir: args.flag('persist') ? PERSIST_DIR : undefined,
    reloadOnChange: !args.flag('no-reload'),
    strictIam: args.flag('strict-iam'),
  });
  const stack = await starting;
  const connectHoldMs = args.optionalInt('connect-hold-ms');
  if (connectHoldMs)
    console.log(`Fault knob on $connect: each handshake held ${connectHoldMs} ms after $connect.`);
  const latencyMs = args.optionalInt('fault-latency-ms');
  const errorPercent = args.optionalInt('fault-error-percent');
  if (latencyMs !== undefined || errorPercent !== undefined) {
    if (errorPercent !== undefined && errorPercent > 100) fail('--fault-error-percent must be 0 to 100.');
    stack.setFaults({ latencyMs, errorRate: (errorPercent ?? 0) / 100, errorStatus: 429 });
    console.log(`Fault knobs on @connections: +${latencyMs ?? 0} ms, ${errorPercent ?? 0}% answered 429.`);
  }
  if (!stopping) {
    await writeOutputs(stack.outputs);
    printBanner(stack.outputs);
  }
} catch (error) {
  if (!stopping) {
    console.error(`\nPushline could not start: ${(error as Error).message}`);
    if (error instanceof PortInUseError)
      console.error('npm start takes --gateway-port, --aws-port and --console-port to change them.');
    process.exit(1);
  }
}

function printBanner(o: LocalOutputs): void {
  console.log(`
Pushline is running (${((Date.now() - started) / 1000).toFixed(1)} s, DynamoDB: ${o.DynamoDbEngine})

  WebSocket URL    ${o.WebSocketUrl}?token=…   (npx pushline token <userId>)
  Management API   ${o.CallbackUrl}/@connections/{id}
  AWS endpoint     ${o.AwsEndpointUrl}   (SNS, SQS, DynamoDB; region ${o.Region})
  Topic ARN        ${o.TopicArn}
  Table            ${o.TableName}
  Rejected queue   ${o.RejectedQueueUrl}
  Message center   ${o.ConsoleUrl ?? '(not served)'}
  Data             ${args.flag('persist') ? `tables kept in ${PERSIST_DIR}` : 'in memory (npm start -- --persist keeps the tables)'}
  Handlers         ${args.flag('no-reload') ? 'loaded once (--no-reload)' : 'a change under functions/ reaches the next invocation'}
  IAM              ${args.flag('strict-iam') ? "each function's calls checked against its role's policies" : 'not checked (npm start -- --strict-iam checks each grant)'}

Outputs written to ${OUTPUTS_FILE}. Try, in another terminal:
  npx pushline listen alice
  npx pushline publish --user alice --type greeting --data '{"hi":1}'
Ctrl-C stops everything.
`);
}

function parseArgs(argv: string[]) {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) fail(`Unexpected argument "${arg}" (npm start -- --help).`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (FLAG_OPTIONS.includes(name) && inline === undefined) {
      flags.add(name);
      continue;
    }
    if (!VALUE_OPTIONS.includes(name)) fail(`Unknown option --${name} (npm start -- --help).`);
    const value = inline ?? argv[++i];
    if (value === undefined || value.startsWith('--')) fail(`--${name} needs a value.`);
    values.set(name, value);
  }
  const int = (name: string): number | undefined => {
    const raw = values.get(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) fail(`--${name} must be a whole number, got "${raw}".`);
    return value;
  };
  return {
    int: (name: string, fallback: number) => int(name) ?? fallback,
    optionalInt: int,
    flag: (name: string) => flags.has(name),
    choice: <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
      const raw = values.get(name) ?? fallback;
      if (!allowed.includes(raw as T)) fail(`--${name} must be one of ${allowed.join(', ')}.`);
      return raw as T;
    },
  };
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
