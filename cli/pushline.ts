import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import WebSocket from 'ws';
import type { PreferencesChange } from '../functions/shared/preferences.ts';
import { DEFAULT_TOPIC_CLAIM, topicNameProblem, topicPatternProblem } from '../functions/shared/topics.ts';
import { type LocalOutputs, OUTPUTS_FILE, readOutputs } from '../local/outputs.ts';
import { mintLocalToken } from '../local/tokens.ts';
import {
  InvalidMessageError,
  InvalidPresenceQueryError,
  JsonText,
  Presence,
  Publisher,
  PublishFailedError,
  type PushMessage,
  type UserPreferences,
} from '../publisher/index.ts';
import { parseNdjson } from '../publisher/ndjson.ts';

const USAGE = `Usage: npx pushline <command> [options]

Commands:
  token <userId> [--topics <patterns>] [--topic-claim <name>] [--expires <seconds>] [--secret <key>]
        [--issuer <iss>]
      Print an HS256 token: for the local stack by default, or signed with --secret (or
      PUSHLINE_JWT_SECRET), e.g. a deployed stack's generated secret. --topics grants topics (a comma
      list of names or prefixes ending in *, e.g. news,team.42.*) in the token's claim
      "${DEFAULT_TOPIC_CLAIM}", or in --topic-claim's when the stack names another.

  publish (--user <ids> | --topic <name> | --all) --type <type> [--data <json>] [--source <s>]
          [--id <id>] [--no-persist] [--ttl <seconds>] [--topic-arn <arn>]
      Publish one message to users (--user repeated or a comma list: --user alice,bob), to a topic's
      subscribers, or to every connection (--all). --data is sent exactly as typed; --data @path
      reads it from a file, --data - from stdin.
  publish --file <path | -> [--chunk-size <n>] [--dry-run] [--topic-arn <arn>]
      Publish the envelopes of an NDJSON file (- reads stdin): one a line, as services publish them,
      with or without "v"; blank lines are skipped. A line without "id" gets a generated one (so a
      second run sends it again: give ids to make re-runs safe). Every line is checked first: if any
      is bad, each bad line is printed and nothing is sent. Sent in chunks of --chunk-size lines
      (default 500), with progress on stderr; --dry-run only checks.
      Without --topic-arn (or PUSHLINE_TOPIC_ARN), publish goes to the local stack (${OUTPUTS_FILE});
      with one, to that topic with the standard AWS configuration.

  online <userId>… [--json] [--table <name>]
      Print whether each user is online and on how many connections.
  audience (<topic> | --all) [--max-users <n>] [--json] [--table <name>]
      Print how many connections and users a topic (or, with --all, a broadcast) reaches now, and the
      users (at most --max-users, default 1000). Reads every row of the audience.
      Without --table (or PUSHLINE_TABLE_NAME), online and audience read the local stack's table;
      with one, that table with the standard AWS configuration (the stack's TableName output).

  prefs <userId>… [--json] [--table <name>]
      Print what each user mutes: message types and sources (read from the table, as online does).
  prefs <userId>… [--mute-type <t>] [--unmute-type <t>] [--mute-source <s>] [--unmute-source <s>]
        [--wait <seconds>] [--topic-arn <arn>] [--table <name>]
      Change what these users mute (each option repeated or a comma list), as the user's own devices
      can; their devices get the new preferences. Sent through the topic (--topic-arn as for
      publish), then read back for up to --wait seconds (default 10; 0 does not wait) to show the
      result. A mandatory type cannot be muted: such a change is rejected by the stack (see rejected).

  disconnect <userId>… [--reason <text>] [--topic-arn <arn>]
      End every open connection of these users: each gets a disconnect frame with the reason, then
      the stack closes it. User ids may also be given as comma lists. --topic-arn as for publish.

  listen <userId> [--url <wss://…>] [--token <jwt>] [--after <seq>]
      Connect as a user and print every frame pushed to it. Without --url, the local stack.
      Without --token, a local token is minted for the user.

  rejected [--queue-url <url>] [--max <n>] [--delete] [--full]
      Print the envelopes the deliver function rejected, each with its reason (oldest first, at most
      --max, default 10). Without --queue-url, the local stack's rejected queue; with one, that queue
      with the standard AWS configuration (the stack's RejectedQueueUrl output). They stay in the
      queue unless --delete is given. Bodies over 2,000 characters are cut on screen unless --full.

  help [<command>]
      This text, or one command's part of it (also: <command> --help, -h).

Exit codes: 0 done, 1 failed (AWS error, connection refused), 2 usage or invalid input,
130 stopped with Ctrl-C.
Reference: docs/cli.md
`;

/** The blocks of USAGE that describe one command (a line of the block starts with its name). */
function usageOf(command: string): string {
  const line = new RegExp(`^  ${command}\\b`, 'm');
  const blocks = USAGE.replace('Commands:\n', '')
    .split('\n\n')
    .filter((block) => line.test(block));
  return `Usage: npx pushline ${blocks.join('\n\n').trimStart()}\n\nAll commands: npx pushline help. Reference: docs/cli.md\n`;
}

interface Parsed {
  readonly positionals: string[];
  readonly options: Map<string, string[]>;
  readonly flags: Set<string>;
}

const BOOLEAN_FLAGS = new Set(['no-persist', 'help', 'delete', 'all', 'json', 'dry-run', 'full']);

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

/** Every value of comma lists (`alice,bob` and repeated options alike), trimmed; refuses empty items. */
function list(values: readonly string[], what: string): string[] {
  const items = values.flatMap((value) => value.split(',')).map((item) => item.trim());
  if (items.some((item) => item === ''))
    throw new UsageError(`${what} has an empty item: ${values.join(' ')}`);
  return items;
}

/** `--data` as given: `@path` reads a file, `-` reads stdin (for data too long for a command line). */
async function dataText(given: string | undefined): Promise<string | undefined> {
  if (given === undefined) return undefined;
  if (given === '-') return (await readStdin()).trim();
  if (!given.startsWith('@')) return given;
  const path = given.slice(1);
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new UsageError(
      `--data ${given}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`,
    );
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The text cut to `max` characters on screen, saying how much was left out. */
function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** `1 message`, `2 messages`. */
const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** A whole number option within bounds, or its default. */
function whole(parsed: Parsed, name: string, fallback: number, min: number, max: number): number {
  const given = one(parsed, name);
  const value = Number(given ?? fallback);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}: ${given}`);
  return value;
}

async function localOutputs() {
  try {
    return await readOutputs();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** SDK client settings for the local stack's endpoint. */
const localConfig = (outputs: LocalOutputs) => ({
  endpoint: outputs.AwsEndpointUrl,
  region: outputs.Region,
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});

/** A publisher for --topic-arn (or PUSHLINE_TOPIC_ARN), else for the local stack; counts SNS requests. */
async function publisherFor(parsed: Parsed): Promise<{ publisher: Publisher; requests: () => number }> {
  const topicArn = one(parsed, 'topic-arn') ?? process.env.PUSHLINE_TOPIC_ARN;
  let client: SNSClient;
  let publisher: Publisher;
  if (topicArn) {
    client = new SNSClient({});
    publisher = new Publisher({ topicArn, client });
  } else {
    const outputs = await localOutputs();
    client = new SNSClient(localConfig(outputs));
    publisher = new Publisher({ topicArn: outputs.TopicArn, client });
  }
  let requests = 0;
  // The initialize step runs once per send (the SDK's own retries come later), so this counts requests.
  client.middlewareStack.add(
    (next) => (args) => {
      requests += 1;
      return next(args);
    },
    { step: 'initialize', name: 'pushlineRequestCount' },
  );
  return { publisher, requests: () => requests };
}

/** Presence on --table (or PUSHLINE_TABLE_NAME), else on the local stack's table. */
async function presenceFor(parsed: Parsed): Promise<Presence> {
  const tableName = one(parsed, 'table') ?? process.env.PUSHLINE_TABLE_NAME;
  if (tableName) return new Presence({ tableName });
  const outputs = await localOutputs();
  return new Presence({ tableName: outputs.TableName, client: new DynamoDBClient(localConfig(outputs)) });
}

/** Claims a token sets itself, which a topic list must not replace. */
const REGISTERED_CLAIMS = new Set(['sub', 'iss', 'iat', 'exp', 'nbf', 'aud', 'jti']);

async function token(parsed: Parsed): Promise<void> {
  const userId = parsed.positionals[0];
  if (!userId) throw new UsageError('token needs a user id: npx pushline token alice');
  const expires = Number(one(parsed, 'expires') ?? 3600);
  if (!Number.isInteger(expires)) throw new UsageError('--expires must be a whole number of seconds.');
  const secret = one(parsed, 'secret') ?? process.env.PUSHLINE_JWT_SECRET;
  const issuer = one(parsed, 'issuer');
  const given = parsed.options.get('topics');
  const topics = given === undefined ? undefined : list(given, '--topics');
  for (const pattern of topics ?? []) {
    const problem = topicPatternProblem(pattern);
    if (problem !== undefined) throw new UsageError(`--topics "${pattern}": ${problem}`);
  }
  const topicClaim = one(parsed, 'topic-claim');
  if (topicClaim !== undefined) {
    if (topics === undefined)
      throw new UsageError('--topic-claim names the claim of --topics: give --topics too.');
    if (topicClaim.trim() === '' || REGISTERED_CLAIMS.has(topicClaim))
      throw new UsageError(`--topic-claim must be a claim name of its own, not "${topicClaim}".`);
  }
  console.log(
    await mintLocalToken(userId, {
      expiresInSeconds: expires,
      ...(secret !== undefined ? { secret } : {}),
      ...(issuer !== undefined ? { issuer } : {}),
      ...(topics !== undefined ? { topics } : {}),
      ...(topicClaim !== undefined ? { topicClaim } : {}),
    }),
  );
}

/** The recipients of `publish`: exactly one of --user, --topic and --all. */
function recipients(parsed: Parsed): PushMessage['to'] {
  const users = parsed.options.get('user');
  const topics = parsed.options.get('topic');
  const given = [users !== undefined, topics !== undefined, parsed.flags.has('all')].filter(Boolean).length;
  if (given !== 1)
    throw new UsageError('publish needs exactly one of --user <ids>, --topic <name> or --all (or --file).');
  if (parsed.flags.has('all')) return { all: true };
  if (topics !== undefined) {
    if (topics.length > 1) throw new UsageError('publish takes one --topic (publish again for another).');
    const topic = topics[0] as string;
    const problem = topicNameProblem(topic);
    if (problem !== undefined) throw new UsageError(`--topic: ${problem}`);
    return { topic };
  }
  return { users: list(users ?? [], '--user') };
}

/** How the CLI names recipients in what it prints. */
function describe(to: PushMessage['to']): string {
  if ('users' in to) return to.users.join(', ');
  if ('topic' in to) return `topic ${to.topic}`;
  return 'every connection';
}

async function publish(parsed: Parsed): Promise<void> {
  const file = one(parsed, 'file');
  if (file !== undefined) return publishFile(parsed, file);
  const to = recipients(parsed);
  const type = one(parsed, 'type');
  if (!type) throw new UsageError('publish needs --type.');
  let data: unknown = null;
  const rawData = await dataText(one(parsed, 'data'));
  if (rawData !== undefined) {
    try {
      JSON.parse(rawData);
    } catch {
      throw new UsageError(`--data must be JSON (quote it in the shell): ${shorten(rawData, 200)}`);
    }
    data = new JsonText(rawData); // sent as typed: an 18-digit integer keeps its digits
  }
  const ttl = one(parsed, 'ttl');
  const message: PushMessage = {
    to,
    type,
    data,
    ...(one(parsed, 'source') !== undefined ? { source: one(parsed, 'source') } : {}),
    ...(one(parsed, 'id') !== undefined ? { id: one(parsed, 'id') } : {}),
    ...(parsed.flags.has('no-persist') ? { persist: false } : {}),
    ...(ttl !== undefined ? { ttl: Number(ttl) } : {}),
  };
  const { publisher } = await publisherFor(parsed);
  const result = await publisher.publish(message);
  console.log(`published ${result.id} to ${describe(to)} (SNS ${result.snsMessageIds.join(', ')})`);
}

/** Options that give one message's fields, which a file's lines give instead. */
const MESSAGE_OPTIONS = ['user', 'topic', 'type', 'data', 'source', 'id', 'ttl'];

async function publishFile(parsed: Parsed, file: string): Promise<void> {
  const conflicting = [
    ...MESSAGE_OPTIONS.filter((name) => parsed.options.has(name)),
    ...['all', 'no-persist'].filter((name) => parsed.flags.has(name)),
  ];
  if (conflicting.length > 0) {
    const names = conflicting.map((name) => `--${name}`).join(', ');
    throw new UsageError(`--file takes every field from its lines: leave out ${names}.`);
  }
  const chunkSize = whole(parsed, 'chunk-size', 500, 1, 10_000);
  const name = file === '-' ? 'stdin' : file;
  const result = parseNdjson(await readText(file));
  if (!result.ok) {
    for (const problem of result.problems) console.error(problem);
    throw new UsageError(`${result.problems.length} bad line(s) in ${name}; nothing was sent.`);
  }
  const messages = result.messages;
  if (parsed.flags.has('dry-run')) {
    console.log(`checked ${plural(messages.length, 'message')} in ${name}; nothing sent (--dry-run)`);
    return;
  }
  const { publisher, requests } = await publisherFor(parsed);
  let sent = 0;
  let envelopes = 0;
  for (let start = 0; start < messages.length; start += chunkSize) {
    const part = messages.slice(start, start + chunkSize);
    try {
      const results = await publisher.publishAll(part.map((entry) => entry.message));
      for (const published of results) envelopes += published.snsMessageIds.length;
    } catch (error) {
      const lastSent = messages[sent - 1]?.line;
      if (sent > 0)
        console.error(`${sent} of ${messages.length} messages (lines up to ${lastSent}) were sent.`);
      if (error instanceof PublishFailedError) {
        const lineOf = new Map(part.map((entry, index) => [error.succeeded[index]?.id, entry.line]));
        const failedLines = [...new Set(error.failed.map((failure) => lineOf.get(failure.id)))];
        console.error(
          `In lines ${part[0]?.line} to ${part.at(-1)?.line}, SNS refused lines ${failedLines.join(', ')}; ` +
            'the others were sent. Later lines were not.',
        );
      }
      throw error;
    }
    sent += part.length;
    if (messages.length > chunkSize) console.error(`sent ${sent}/${messages.length} messages`);
  }
  console.log(
    `published ${plural(sent, 'message')} (${plural(envelopes, 'envelope')}, ${plural(requests(), 'SNS request')})`,
  );
}

/** A file's text, or stdin's for `-`. */
async function readText(file: string): Promise<string> {
  if (file === '-') {
    if (process.stdin.isTTY) console.error('reading NDJSON from stdin (end with Ctrl-D)');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read ${file}: ${(error as Error).message}`);
  }
}

async function online(parsed: Parsed): Promise<void> {
  const users = list(parsed.positionals, 'online');
  if (users.length === 0) throw new UsageError('online needs user ids: npx pushline online alice bob');
  const answers = await (await presenceFor(parsed)).online(users);
  if (parsed.flags.has('json')) {
    console.log(JSON.stringify(answers, null, 2));
    return;
  }
  const width = Math.max(...answers.map((answer) => answer.user.length));
  for (const answer of answers) {
    const connections = plural(answer.connections, 'connection');
    console.log(`${answer.user.padEnd(width)}  ${answer.online ? `online (${connections})` : 'offline'}`);
  }
}

async function audience(parsed: Parsed): Promise<void> {
  const all = parsed.flags.has('all');
  const [topic, ...extra] = parsed.positionals;
  if ((topic !== undefined) === all || extra.length > 0)
    throw new UsageError('audience needs one topic or --all: npx pushline audience news');
  if (topic !== undefined) {
    const problem = topicNameProblem(topic);
    if (problem !== undefined) throw new UsageError(problem);
  }
  const maxUsers = whole(parsed, 'max-users', 1000, 1, 100_000);
  const presence = await presenceFor(parsed);
  const answer = await presence.audience(topic !== undefined ? { topic } : { all: true }, { maxUsers });
  if (parsed.flags.has('json')) {
    console.log(JSON.stringify({ ...(topic !== undefined ? { topic } : { all: true }), ...answer }, null, 2));
    return;
  }
  const what = topic !== undefined ? `topic ${topic}` : 'every connection';
  console.log(`${what}: ${plural(answer.connections, 'connection')}, ${plural(answer.userCount, 'user')}`);
  for (const user of answer.users) console.log(`  ${user}`);
  if (answer.truncated)
    console.error(`(the first ${answer.users.length} of ${answer.userCount} users; --max-users shows more)`);
}

/** The options of `prefs` that change preferences, by what they change. */
const PREFERENCE_OPTIONS = {
  'mute-type': ['mute', 'types'],
  'unmute-type': ['unmute', 'types'],
  'mute-source': ['mute', 'sources'],
  'unmute-source': ['unmute', 'sources'],
} as const;

async function prefs(parsed: Parsed): Promise<void> {
  const users = list(parsed.positionals, 'prefs');
  if (users.length === 0) throw new UsageError('prefs needs user ids: npx pushline prefs alice');
  const change: { mute?: Record<string, string[]>; unmute?: Record<string, string[]> } = {};
  for (const [option, [verb, kind]] of Object.entries(PREFERENCE_OPTIONS)) {
    const values = parsed.options.get(option);
    if (values === undefined) continue;
    change[verb] = { ...change[verb], [kind]: list(values, `--${option}`) };
  }
  const presence = await presenceFor(parsed);
  if (change.mute === undefined && change.unmute === undefined) {
    printPreferences(await presence.preferences(users), parsed.flags.has('json'));
    return;
  }
  if (parsed.flags.has('json')) throw new UsageError('--json only goes with reading preferences.');
  const waitSeconds = whole(parsed, 'wait', 10, 0, 600);
  const before = await presence.preferences(users);
  const { publisher } = await publisherFor(parsed);
  const result = await publisher.setPreferences(users, change as PreferencesChange);
  console.error(`sent prefs change ${result.id} for ${users.join(', ')}`);
  if (waitSeconds === 0) return;
  console.error('reading it back…');
  // The stack applies the change asynchronously: read until every user's version moved, bounded.
  const deadline = Date.now() + waitSeconds * 1000;
  let after = before;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    after = await presence.preferences(users);
    if (after.every((answer, index) => answer.version !== before[index]?.version)) break;
  }
  printPreferences(after, false);
  const unchanged = users.filter((_, index) => after[index]?.version === before[index]?.version);
  if (unchanged.length > 0) {
    throw new Error(
      `the change for ${unchanged.join(', ')} was not applied within ${waitSeconds} s; ` +
        'it may be rejected (a mandatory type?): see npx pushline rejected',
    );
  }
}

function printPreferences(answers: readonly UserPreferences[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(answers, null, 2));
    return;
  }
  const width = Math.max(...answers.map((answer) => answer.user.length));
  const names = (items: readonly string[]) => (items.length === 0 ? '-' : items.join(', '));
  for (const answer of answers) {
    console.log(
      `${answer.user.padEnd(width)}  muted types: ${names(answer.mutedTypes)}; ` +
        `muted sources: ${names(answer.mutedSources)}`,
    );
  }
}

async function disconnect(parsed: Parsed): Promise<void> {
  const users = list(parsed.positionals, 'disconnect');
  if (users.length === 0) throw new UsageError('disconnect needs user ids: npx pushline disconnect alice');
  const reason = one(parsed, 'reason');
  const { publisher } = await publisherFor(parsed);
  const result = await publisher.disconnect(users, reason !== undefined ? { reason } : {});
  console.log(
    `sent disconnect ${result.id} to ${users.join(', ')}${reason !== undefined ? ` (reason: ${reason})` : ''}` +
      ` (SNS ${result.snsMessageIds.join(', ')})`,
  );
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

/** Characters of a rejected body printed without --full: a body may be 256 KB. */
const MAX_SHOWN_BODY = 2_000;

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
    sqs = new SQSClient(localConfig(outputs));
    queueUrl = outputs.RejectedQueueUrl;
  }
  let shown = 0;
  const seen = new Set<string>();
  // Each receive hides what it returns for 30 s, so a message is never printed twice in one run;
  // without --delete they are made visible again at the end, so the next run lists them too.
  const shownHandles: string[] = [];
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
      console.log(`code: ${attributes.code?.StringValue ?? '(none: kept by an earlier version)'}`);
      console.log(`reason: ${attributes.reason?.StringValue ?? '(none)'}`);
      console.log(`sns message: ${attributes.snsMessageId?.StringValue ?? '?'}`);
      if (attributes.truncated?.StringValue === 'true')
        console.log(
          `kept cut: the body was ${attributes.originalBytes?.StringValue ?? '?'} bytes, too large for the queue beside its reason`,
        );
      let body = message.Body ?? '';
      if (attributes.encoding?.StringValue === 'base64') {
        // Kept encoded because it holds characters SQS refuses: shown escaped, never raw to a terminal.
        console.log('kept as base64 (the body holds characters SQS cannot carry); shown decoded, escaped');
        body = JSON.stringify(Buffer.from(body, 'base64').toString('utf8'));
      }
      console.log(`body: ${parsed.flags.has('full') ? body : shorten(body, MAX_SHOWN_BODY)}\n`);
      if (parsed.flags.has('delete') && message.ReceiptHandle) {
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      } else if (message.ReceiptHandle) shownHandles.push(message.ReceiptHandle);
      shown += 1;
    }
  }
  for (const handle of shownHandles)
    await sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: handle, VisibilityTimeout: 0 }),
    );
  console.error(
    shown === 0
      ? 'No rejected envelopes.'
      : `${shown} rejected envelope(s)${parsed.flags.has('delete') ? ', deleted' : ''}.`,
  );
}

/** Each command with the options it takes (any other is a usage error, so a typo is not ignored). */
const commands: Record<string, { run: (parsed: Parsed) => Promise<void>; options: readonly string[] }> = {
  token: { run: token, options: ['topics', 'topic-claim', 'expires', 'secret', 'issuer'] },
  publish: {
    run: publish,
    options: [...MESSAGE_OPTIONS, 'all', 'no-persist', 'topic-arn', 'file', 'chunk-size', 'dry-run'],
  },
  online: { run: online, options: ['json', 'table'] },
  audience: { run: audience, options: ['all', 'json', 'table', 'max-users'] },
  prefs: { run: prefs, options: [...Object.keys(PREFERENCE_OPTIONS), 'wait', 'json', 'table', 'topic-arn'] },
  disconnect: { run: disconnect, options: ['reason', 'topic-arn'] },
  listen: { run: listen, options: ['url', 'token', 'after'] },
  rejected: { run: rejected, options: ['queue-url', 'max', 'delete', 'full'] },
};

// Ctrl-C (in listen, or a long publish) ends the command at once, without a stack trace.
process.once('SIGINT', () => process.exit(130));

const HELP = new Set(['--help', '-h', 'help']);

try {
  const [name, ...rest] = process.argv.slice(2);
  if (name === undefined || HELP.has(name)) {
    const about = rest[0];
    if (about !== undefined && commands[about] === undefined) throw new UsageError(unknownCommand(about));
    console.log(about === undefined ? USAGE : usageOf(about));
    process.exit(0);
  }
  const command = commands[name];
  if (command === undefined) throw new UsageError(unknownCommand(name));
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(usageOf(name));
    process.exit(0);
  }
  const parsed = parse(rest);
  const unknown = [...parsed.options.keys(), ...parsed.flags].filter(
    (option) => !command.options.includes(option),
  );
  if (unknown.length > 0)
    throw new UsageError(
      `${name} does not take ${unknown.map((option) => `--${option}`).join(', ')} (see --help).`,
    );
  await command.run(parsed);
} catch (error) {
  if (
    error instanceof UsageError ||
    error instanceof InvalidMessageError ||
    error instanceof InvalidPresenceQueryError
  ) {
    console.error(error.message);
    process.exit(2);
  }
  const { name, message, code } = error as Error & { code?: unknown };
  // A refused connection can come as an AggregateError with no message, only a code.
  console.error(`pushline: ${name}: ${message || String(code ?? '')}${unreachableHint(error)}`);
  process.exit(1);
}

function unknownCommand(name: string): string {
  return `pushline: no command "${name}". Commands: ${Object.keys(commands).join(', ')} (npx pushline help).`;
}

/**
 * A hint for a refused connection: the local stack is not running (the commands that read its
 * outputs file reach it at its ports), or an endpoint given by the environment is down.
 */
function unreachableHint(error: unknown): string {
  const text = `${(error as Error).message} ${String((error as { code?: unknown }).code ?? '')}`;
  if (!/ECONNREFUSED/.test(text)) return '';
  return process.env.AWS_ENDPOINT_URL === undefined
    ? '\nNothing answers there: is the local stack running (npm start)?'
    : `\nNothing answers at AWS_ENDPOINT_URL (${process.env.AWS_ENDPOINT_URL}): is the local stack (npm start) or LocalStack running?`;
}
