import { SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import WebSocket from 'ws';
import { OUTPUTS_FILE, readOutputs } from '../local/outputs.ts';
import { mintLocalToken } from '../local/tokens.ts';
import { InvalidMessageError, JsonText, Publisher, type PushMessage } from '../publisher/index.ts';

const USAGE = `Usage: npx pushline <command> [options]

Commands:
  token <userId> [--expires <seconds>] [--secret <key>] [--issuer <iss>]
      Print an HS256 token: for the local stack by default, or signed with --secret (or
      PUSHLINE_JWT_SECRET), e.g. a deployed stack's generated secret.
  publish --user <id> [--user <id>…] --type <type> [--source <s>] [--data <json>] [--id <id>]
          [--no-persist] [--ttl <seconds>] [--topic-arn <arn>]
      Publish an envelope. Without --topic-arn (or PUSHLINE_TOPIC_ARN) it goes to the local stack
      (${OUTPUTS_FILE}); with one it goes to that topic with the standard AWS configuration.
  listen <userId> [--url <wss://…>] [--token <jwt>] [--after <seq>]
      Connect as a user and print every frame pushed to it. Without --url, the local stack.
      Without --token, a local token is minted for the user.
  rejected [--queue-url <url>] [--max <n>] [--delete]
      Print the envelopes the deliver function rejected, each with its reason (oldest first, at most
      --max, default 10). Without --queue-url, the local stack's rejected queue; with one, that queue
      with the standard AWS configuration (the stack's RejectedQueueUrl output). They stay in the
      queue unless --delete is given.
`;

interface Parsed {
  readonly positionals: string[];
  readonly options: Map<string, string[]>;
  readonly flags: Set<string>;
}

const BOOLEAN_FLAGS = new Set(['no-persist', 'help', 'delete']);

/** Parses `--name value`, `--name=value` and boolean flags; repeated options keep every value. */
function parse(argv: readonly string[]): Parsed {
  const positionals: string[] = [];
  const options = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (BOOLEAN_FLAGS.has(name)) {
      flags.add(name);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value.`);
    options.set(name, [...(options.get(name) ?? []), value]);
  }
  return { positionals, options, flags };
}

class UsageError extends Error {}

const one = (parsed: Parsed, name: string): string | undefined => parsed.options.get(name)?.at(-1);

async function localOutputs() {
  try {
    return await readOutputs();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function token(parsed: Parsed): Promise<void> {
  const userId = parsed.positionals[0];
  if (!userId) throw new UsageError('token needs a user id: npx pushline token alice');
  const expires = Number(one(parsed, 'expires') ?? 3600);
  if (!Number.isInteger(expires)) throw new UsageError('--expires must be a whole number of seconds.');
  const secret = one(parsed, 'secret') ?? process.env.PUSHLINE_JWT_SECRET;
  const issuer = one(parsed, 'issuer');
  console.log(
    await mintLocalToken(userId, {
      expiresInSeconds: expires,
      ...(secret !== undefined ? { secret } : {}),
      ...(issuer !== undefined ? { issuer } : {}),
    }),
  );
}

async function publish(parsed: Parsed): Promise<void> {
  const users = parsed.options.get('user') ?? [];
  const type = one(parsed, 'type');
  if (users.length === 0) throw new UsageError('publish needs at least one --user.');
  if (!type) throw new UsageError('publish needs --type.');
  let data: unknown = null;
  const rawData = one(parsed, 'data');
  if (rawData !== undefined) {
    try {
      JSON.parse(rawData);
    } catch {
      throw new UsageError(`--data must be JSON (quote it in the shell): ${rawData}`);
    }
    data = new JsonText(rawData); // sent as typed: an 18-digit integer keeps its digits
  }
  const ttl = one(parsed, 'ttl');
  const message: PushMessage = {
    to: { users },
    type,
    data,
    ...(one(parsed, 'source') !== undefined ? { source: one(parsed, 'source') } : {}),
    ...(one(parsed, 'id') !== undefined ? { id: one(parsed, 'id') } : {}),
    ...(parsed.flags.has('no-persist') ? { persist: false } : {}),
    ...(ttl !== undefined ? { ttl: Number(ttl) } : {}),
  };

  const topicArn = one(parsed, 'topic-arn') ?? process.env.PUSHLINE_TOPIC_ARN;
  let publisher: Publisher;
  if (topicArn) {
    publisher = new Publisher({ topicArn });
  } else {
    const outputs = await localOutputs();
    const client = new SNSClient({
      endpoint: outputs.AwsEndpointUrl,
      region: outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    publisher = new Publisher({ topicArn: outputs.TopicArn, client });
  }
  const result = await publisher.publish(message);
  console.log(`published ${result.id} to ${users.join(', ')} (SNS ${result.snsMessageIds.join(', ')})`);
}

async function listen(parsed: Parsed): Promise<void> {
  const userId = parsed.positionals[0];
  if (!userId) throw new UsageError('listen needs a user id: npx pushline listen alice');
  const url = one(parsed, 'url') ?? (await localOutputs()).WebSocketUrl;
  const jwt = one(parsed, 'token') ?? (await mintLocalToken(userId));
  const socket = new WebSocket(`${url}?token=${encodeURIComponent(jwt)}`, { handshakeTimeout: 10_000 });
  socket.on('unexpected-response', (_request, response) => {
    console.error(`Connection refused: HTTP ${response.statusCode} ${response.statusMessage ?? ''}`);
    process.exit(1);
  });
  socket.on('open', () => {
    console.error(`listening as ${userId} on ${url} (Ctrl-C to stop)`);
    const after = one(parsed, 'after');
    socket.send(JSON.stringify({ action: 'resume', ...(after ? { after } : {}) }));
  });
  // Stay well inside API Gateway's 10-minute idle timeout.
  const heartbeat = setInterval(() => socket.send(JSON.stringify({ action: 'ping' })), 60_000);
  socket.on('message', (data) => console.log(data.toString()));
  socket.on('error', (error) => console.error(`error: ${error.message}`));
  socket.on('close', (code, reason) => {
    clearInterval(heartbeat);
    console.error(`closed: ${code} ${reason.toString()}`);
    process.exit(code === 1000 ? 0 : 1);
  });
  process.on('SIGINT', () => socket.close(1000, 'bye'));
}

async function rejected(parsed: Parsed): Promise<void> {
  const max = Number(one(parsed, 'max') ?? 10);
  if (!Number.isInteger(max) || max < 1 || max > 1000) throw new UsageError('--max must be 1 to 1000.');
  const given = one(parsed, 'queue-url');
  let sqs: SQSClient;
  let queueUrl: string;
  if (given) {
    sqs = new SQSClient({});
    queueUrl = given;
  } else {
    const outputs = await localOutputs();
    sqs = new SQSClient({
      endpoint: outputs.AwsEndpointUrl,
      region: outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    queueUrl = outputs.RejectedQueueUrl;
  }
  let shown = 0;
  const seen = new Set<string>();
  // Each receive hides what it returns for 30 s, so a message is never printed twice in one run;
  // without --delete they come back to the queue after that.
  while (shown < max) {
    const answer = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, max - shown),
        VisibilityTimeout: 30,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = (answer.Messages ?? []).filter((m) => m.MessageId && !seen.has(m.MessageId));
    if (messages.length === 0) break;
    for (const message of messages) {
      seen.add(message.MessageId as string);
      const attributes = message.MessageAttributes ?? {};
      console.log(`reason: ${attributes.reason?.StringValue ?? '(none)'}`);
      console.log(`sns message: ${attributes.snsMessageId?.StringValue ?? '?'}`);
      console.log(`body: ${message.Body ?? ''}\n`);
      if (parsed.flags.has('delete') && message.ReceiptHandle) {
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
      shown += 1;
    }
  }
  console.error(
    shown === 0
      ? 'No rejected envelopes.'
      : `${shown} rejected envelope(s)${parsed.flags.has('delete') ? ', deleted' : ''}.`,
  );
}

const commands: Record<string, (parsed: Parsed) => Promise<void>> = { token, publish, listen, rejected };

try {
  const [name, ...rest] = process.argv.slice(2);
  const command = name === undefined ? undefined : commands[name];
  if (command === undefined || rest.includes('--help')) {
    console.log(USAGE);
    process.exit(name === undefined || rest.includes('--help') || name === 'help' ? 0 : 2);
  }
  await command(parse(rest));
} catch (error) {
  if (error instanceof UsageError || error instanceof InvalidMessageError) {
    console.error(error.message);
    process.exit(2);
  }
  console.error(`pushline: ${(error as Error).name}: ${(error as Error).message}`);
  process.exit(1);
}
