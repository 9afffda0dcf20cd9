import { PortInUseError } from '../emulator/errors.ts';
import { type LocalOutputs, OUTPUTS_FILE, writeOutputs } from './outputs.ts';
import { LOCAL_DEMO_CONTEXT, startLocalStack } from './stack.ts';

/**
 * `npm start`: the whole stack on this machine, no Docker and no AWS account.
 * Flags: --gateway-port, --aws-port, --console-port (defaults 3001, 4566, 3000),
 * --dynamo auto|dynamodb-local|dynalite, --idle-timeout-ms, --max-connection-ms, --quiet,
 * --fault-latency-ms and --fault-error-percent (on the @connections management API),
 * --connect-hold-ms (holds each $connect open that long before the handshake completes).
 */
// Lambda runs Node 22; the SDK's notice about Node 20 only applies to this machine.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

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
    if (!arg.startsWith('--')) fail(`Unexpected argument "${arg}".`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const next = argv[i + 1];
    if (inline !== undefined) values.set(name, inline);
    else if (next !== undefined && !next.startsWith('--')) values.set(name, argv[++i] as string);
    else flags.add(name);
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
