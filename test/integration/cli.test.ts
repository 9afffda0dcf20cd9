import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { mintLocalToken } from '../../local/tokens.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import { type Frame, TestSocket } from '../support/ws-client.ts';

const run = promisify(execFile);

/**
 * Runs `npx pushline …` as a user would, pointed at the target with the standard AWS variables;
 * `input` is written to its stdin.
 */
async function pushline(
  target: Target,
  args: string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  const running = run(process.execPath, ['cli/bin.js', ...args], {
    timeout: 60_000,
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: target.outputs.AwsEndpointUrl,
      AWS_REGION: target.outputs.Region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      ...options.env,
    },
  });
  running.child.stdin?.end(options.input ?? '');
  return running;
}

/** The failure of a CLI run that should fail: its exit code and output. */
async function failure(running: Promise<unknown>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    await running;
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: number; stdout?: string; stderr?: string };
    return { code: code ?? -1, stdout: stdout ?? '', stderr: stderr ?? '' };
  }
  throw new Error('the command succeeded');
}

/** Sends a frame and waits for the answer of the given kind (or an error) after it. */
async function request(socket: TestSocket, frame: Record<string, unknown>, kind: string): Promise<Frame> {
  const from = socket.frames.length;
  socket.send(frame);
  return socket.next((f) => f.kind === kind || f.kind === 'error', 30_000, from);
}

/** Waits for the socket to be closed, failing after `timeoutMs` (it bounds a wait, not a speed). */
async function closedWithin(socket: TestSocket, timeoutMs = 30_000): Promise<{ code: number }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([socket.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the pushline command line, tried as a new user would', () => {
  let target: Target;
  let files: string;
  const sockets: TestSocket[] = [];
  /** Opens a socket for the user with a local token granting `topics`. */
  const connect = async (user: string, topics?: string[]) => {
    const token = await mintLocalToken(user, topics !== undefined ? { topics } : {});
    const socket = await TestSocket.open(`${target.outputs.WebSocketUrl}?token=${token}`);
    sockets.push(socket);
    return socket;
  };
  const arn = () => ['--topic-arn', target.outputs.TopicArn];
  const table = () => ['--table', target.outputs.TableName];

  before(async () => {
    target = await startTarget();
    files = await mkdtemp(join(tmpdir(), 'pushline-cli-'));
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await rm(files, { recursive: true, force: true });
    await target.stop();
  });

  it('prints a token the stack accepts, and publishes to a topic given by ARN', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const user = unique('cli');
    const { stdout: token } = await pushline(target, ['token', user]);
    const socket = await TestSocket.open(`${target.outputs.WebSocketUrl}?token=${token.trim()}`);
    try {
      const { stdout } = await pushline(target, [
        'publish',
        '--topic-arn',
        target.outputs.TopicArn,
        '--user',
        user,
        '--type',
        'greeting',
        '--data',
        '{"hi":1,"orderId":654366374251302912}',
      ]);
      assert.match(stdout, new RegExp(`^published \\S+ to ${user}`));
      const frame = await socket.next((f) => f.kind === 'message', 30_000);
      assert.equal((frame.data as { hi: number }).hi, 1);
      const text = socket.texts.find((t) => t.includes('"kind":"message"')) ?? '';
      assert.ok(text.includes('"orderId":654366374251302912'), `the digits as typed: ${text}`);
    } finally {
      await socket.close();
    }
  });

  it('refuses a publish without a type, with a usage error and exit code 2', async () => {
    await assert.rejects(
      pushline(target, ['publish', '--topic-arn', target.outputs.TopicArn, '--user', 'x']),
      (error: { code?: number; stderr?: string }) => error.code === 2 && /--type/.test(error.stderr ?? ''),
    );
  });

  it('lists rejected envelopes with their reason, and deletes them on request', async () => {
    const marker = unique('bad');
    const long = 'y'.repeat(5_000);
    await target.publish(JSON.stringify({ v: 1, to: { users: [marker] }, data: null }));
    await target.publish(JSON.stringify({ v: 1, to: { users: [`${marker}-long`] }, data: long }));
    await target.local?.idle();
    const queue = ['rejected', '--queue-url', target.outputs.RejectedQueueUrl, '--max', '50'];
    let listed = '';
    for (let attempt = 0; attempt < 20 && !listed.includes(`${marker}-long`); attempt++) {
      listed = (await pushline(target, queue)).stdout;
    }
    assert.match(listed, /reason: type: /);
    assert.match(listed, /code: INVALID_FIELDS/);
    assert.ok(listed.includes(marker), 'the rejected body is printed');
    assert.match(listed, /y{1000,}… \(\d+ more characters\)/, 'a long body is cut on screen');
    assert.ok(!listed.includes(long), 'not printed whole');
    const full = await pushline(target, [...queue, '--full', '--delete']);
    assert.ok(full.stdout.includes(long), '--full prints it whole');
    const after = await pushline(target, queue);
    assert.ok(!after.stdout.includes(marker), 'deleted envelopes are gone');
  });
  it('mints a token whose topics claim lets a socket subscribe to what it grants and to nothing else', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const user = unique('cli-topics');
    const topic = unique('news');
    const { stdout } = await pushline(target, ['token', user, '--topics', `${topic},team.*`]);
    assert.deepEqual(decodeJwt(stdout.trim()).topics, [topic, 'team.*']);
    const socket = await TestSocket.open(`${target.outputs.WebSocketUrl}?token=${stdout.trim()}`);
    sockets.push(socket);
    assert.deepEqual(await request(socket, { action: 'subscribe', topic }, 'subscribed'), {
      kind: 'subscribed',
      topic,
    });
    const prefixed = await request(socket, { action: 'subscribe', topic: 'team.42' }, 'subscribed');
    assert.equal(prefixed.kind, 'subscribed');
    const refused = await request(socket, { action: 'subscribe', topic: 'admin' }, 'subscribed');
    assert.equal(refused.code, 'FORBIDDEN');
  });

  it('puts the topics under the claim --topic-claim names, and refuses a bad pattern with exit code 2', async () => {
    const { stdout } = await pushline(target, [
      'token',
      'ann',
      '--topics',
      'a,b.*',
      '--topic-claim',
      'channels',
    ]);
    const claims = decodeJwt(stdout.trim());
    assert.deepEqual(claims.channels, ['a', 'b.*']);
    assert.equal(claims.topics, undefined);

    const bad = await failure(pushline(target, ['token', 'ann', '--topics', 'news,a#b']));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--topics "a#b": .*may contain only/);
    const lonely = await failure(pushline(target, ['token', 'ann', '--topic-claim', 'channels']));
    assert.equal(lonely.code, 2);
    assert.match(lonely.stderr, /give --topics too/);
  });

  it('publishes to a topic, and with --all to every connection', { skip: WEBSOCKET_SKIP }, async () => {
    const topic = unique('news');
    const subscriber = await connect(unique('sub'), [topic]);
    const bystander = await connect(unique('by'));
    await request(subscriber, { action: 'subscribe', topic }, 'subscribed');

    const toTopic = await pushline(target, [
      'publish',
      ...arn(),
      '--topic',
      topic,
      '--type',
      'news',
      '--data',
      '1',
    ]);
    assert.match(toTopic.stdout, new RegExp(`^published (\\S+) to topic ${topic} `));
    const topicId = toTopic.stdout.split(' ')[1];
    const frame = await subscriber.next((f) => f.kind === 'message' && f.id === topicId);
    assert.equal(frame.topic, topic);

    const toAll = await pushline(target, [
      'publish',
      ...arn(),
      '--all',
      '--type',
      'notice',
      '--data',
      '"all"',
    ]);
    assert.match(toAll.stdout, /^published \S+ to every connection /);
    const allId = toAll.stdout.split(' ')[1];
    for (const socket of [subscriber, bystander]) {
      const broadcast = await socket.next((f) => f.kind === 'message' && f.id === allId);
      assert.equal(broadcast.broadcast, true);
      assert.equal(broadcast.data, 'all');
    }
    assert.equal(
      bystander.messages().some((f) => f.id === topicId),
      false,
      'the topic message reached only the subscriber',
    );
  });

  it('publishes to users given by repeated --user and comma lists alike', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const users = [unique('u1'), unique('u2'), unique('u3')];
    const open = await Promise.all(users.map((user) => connect(user)));
    const { stdout } = await pushline(target, [
      'publish',
      ...arn(),
      '--user',
      `${users[0]},${users[1]}`,
      '--user',
      users[2] as string,
      '--type',
      'hello',
    ]);
    assert.match(stdout, new RegExp(`^published \\S+ to ${users.join(', ')} `));
    const id = stdout.split(' ')[1];
    for (const socket of open) await socket.next((f) => f.kind === 'message' && f.id === id);
  });

  it('refuses publish unless exactly one of --user, --topic and --all is given', async () => {
    for (const recipients of [[], ['--user', 'a', '--all'], ['--topic', 'news', '--user', 'a']]) {
      const refused = await failure(pushline(target, ['publish', ...arn(), ...recipients, '--type', 't']));
      assert.equal(refused.code, 2, recipients.join(' '));
      assert.match(refused.stderr, /exactly one of --user <ids>, --topic <name> or --all/);
    }
    const badTopic = await failure(pushline(target, ['publish', ...arn(), '--topic', 'a#b', '--type', 't']));
    assert.equal(badTopic.code, 2);
    assert.match(badTopic.stderr, /--topic: topic "a#b"/);
  });

  it('publishes an NDJSON file, with or without v and id, keeping data as written', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [ann, bob] = [unique('ann'), unique('bob')];
    const [annSocket, bobSocket] = [await connect(ann), await connect(bob)];
    const id = unique('line1');
    const file = join(files, 'messages.ndjson');
    await writeFile(
      file,
      [
        `{"v":1,"id":"${id}","to":{"users":["${ann}"]},"type":"order","data":{"orderId":654366374251302912}}`,
        '',
        `{"to":{"users":["${ann}","${bob}"]},"type":"note","data":"both"}`,
        '',
      ].join('\n'),
    );
    const { stdout } = await pushline(target, ['publish', ...arn(), '--file', file]);
    assert.equal(stdout.trim(), 'published 2 messages (2 envelopes, 1 SNS request)');
    await annSocket.next((f) => f.kind === 'message' && f.id === id);
    const text = annSocket.texts.find((t) => t.includes(id)) ?? '';
    assert.ok(text.includes('"data":{"orderId":654366374251302912}'), `the digits as written: ${text}`);
    const note = await bobSocket.next((f) => f.kind === 'message' && f.data === 'both');
    assert.equal(typeof note.id, 'string', 'a line without id got one');
    const annNote = await annSocket.next((f) => f.kind === 'message' && f.data === 'both');
    assert.equal(annNote.id, note.id, 'one id for every recipient of the line');
  });

  it('reads NDJSON from stdin and sends it in chunks, with progress on stderr', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const user = unique('chunks');
    const socket = await connect(user);
    const lines = Array.from({ length: 5 }, (_, i) =>
      JSON.stringify({ to: { users: [user] }, type: 't', data: i }),
    );
    const { stdout, stderr } = await pushline(
      target,
      ['publish', ...arn(), '--file', '-', '--chunk-size', '2'],
      {
        input: `${lines.join('\n')}\n`,
      },
    );
    assert.equal(stdout.trim(), 'published 5 messages (5 envelopes, 3 SNS requests)');
    assert.match(stderr, /sent 2\/5 messages\nsent 4\/5 messages\nsent 5\/5 messages/);
    for (let i = 0; i < 5; i++) await socket.next((f) => f.kind === 'message' && f.data === i);
  });

  it('prints every bad line of a file and sends none of its lines, with exit code 2', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const user = unique('careful');
    const socket = await connect(user);
    const good = JSON.stringify({ to: { users: [user] }, type: 't', data: 'must not arrive' });
    const input = [
      good,
      '{"to":',
      good,
      JSON.stringify({ v: 2, to: { users: [user] }, type: 't', data: 1 }),
    ].join('\n');
    const checked = await pushline(target, ['publish', '--file', '-', '--dry-run'], { input: good });
    assert.equal(checked.stdout.trim(), 'checked 1 message in stdin; nothing sent (--dry-run)');

    const refused = await failure(pushline(target, ['publish', ...arn(), '--file', '-'], { input }));
    assert.equal(refused.code, 2);
    const lines = refused.stderr.trim().split('\n');
    assert.match(lines[0] ?? '', /^line 2: not JSON/);
    assert.match(lines[1] ?? '', /^line 4: v: v must be 1/);
    assert.equal(lines[2], '2 bad line(s) in stdin; nothing was sent.');

    const marker = await pushline(target, ['publish', ...arn(), '--user', user, '--type', 'marker']);
    await socket.next((f) => f.kind === 'message' && f.id === marker.stdout.split(' ')[1]);
    await target.local?.idle();
    assert.deepEqual(
      socket.messages().map((f) => f.type),
      ['marker'],
      'neither the good lines nor the dry run were sent',
    );
  });

  it('reads --data from a file with @path and from stdin with -, sent as written', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const user = unique('data');
    const socket = await connect(user);
    const big = `{"text":"${'z'.repeat(50_000)}","n":12345678901234567890}`;
    const file = join(files, 'data.json');
    await writeFile(file, `${big}\n`);
    const fromFile = await pushline(target, [
      'publish',
      ...arn(),
      '--user',
      user,
      '--type',
      't',
      '--data',
      `@${file}`,
    ]);
    const fromStdin = await pushline(
      target,
      ['publish', ...arn(), '--user', user, '--type', 't', '--data', '-'],
      {
        input: '{"from":"stdin"}',
      },
    );
    const [fileId, stdinId] = [fromFile.stdout.split(' ')[1], fromStdin.stdout.split(' ')[1]];

    await socket.next((f) => f.kind === 'message' && f.id === fileId);
    await socket.next((f) => f.kind === 'message' && f.id === stdinId);
    const fileText = socket.texts.find((text) => text.includes(`"${fileId}"`)) ?? '';
    assert.ok(fileText.includes('"n":12345678901234567890'), 'the big integer keeps its digits');
    assert.ok(fileText.includes('z'.repeat(50_000)));
    assert.deepEqual(socket.frames.find((f) => f.id === stdinId)?.data, { from: 'stdin' });
    const missing = await failure(
      pushline(target, ['publish', ...arn(), '--user', user, '--type', 't', '--data', '@/no/such/file']),
    );
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read \/no\/such\/file \(ENOENT\)/);
  });

  it('says nothing answers, and asks whether the stack is running, when its endpoint is down', async () => {
    const closedPort = await freePort();
    const failed = await failure(
      pushline(target, ['online', 'someone', ...table()], {
        env: { AWS_ENDPOINT_URL: `http://127.0.0.1:${closedPort}` },
      }),
    );
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /ECONNREFUSED/);
    assert.match(failed.stderr, /is the local stack \(npm start\) or LocalStack running\?/);
  });

  it('exits with code 1 and the AWS error when the topic cannot be published to', async () => {
    const input = JSON.stringify({ to: { users: ['nobody'] }, type: 't', data: null });
    const missing = `${target.outputs.TopicArn}-missing`;
    const failed = await failure(
      pushline(target, ['publish', '--topic-arn', missing, '--file', '-'], { input }),
    );
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^pushline: \w+: /m);
  });

  it('tells which users are online and on how many connections, as text and as JSON', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [busy, away] = [unique('busy'), unique('away')];
    await connect(busy);
    await connect(busy);
    const { stdout } = await pushline(target, ['online', busy, away, ...table()]);
    assert.deepEqual(stdout.trimEnd().split('\n'), [`${busy}  online (2 connections)`, `${away}  offline`]);
    const json = await pushline(target, ['online', `${busy},${away}`, '--json'], {
      env: { PUSHLINE_TABLE_NAME: target.outputs.TableName },
    });
    assert.deepEqual(JSON.parse(json.stdout), [
      { user: busy, online: true, connections: 2 },
      { user: away, online: false, connections: 0 },
    ]);
  });

  it('tells who a topic and the broadcast reach, as text and as JSON', { skip: WEBSOCKET_SKIP }, async () => {
    const topic = unique('room');
    const users = [unique('a-user'), unique('b-user')].sort();
    const joined = [await connect(users[0] as string, [topic]), await connect(users[1] as string, [topic])];
    joined.push(await connect(users[1] as string, [topic]));
    for (const socket of joined) await request(socket, { action: 'subscribe', topic }, 'subscribed');

    const { stdout } = await pushline(target, ['audience', topic, ...table()]);
    assert.deepEqual(stdout.trimEnd().split('\n'), [
      `topic ${topic}: 3 connections, 2 users`,
      `  ${users[0]}`,
      `  ${users[1]}`,
    ]);
    const json = await pushline(target, ['audience', topic, '--json', ...table()]);
    assert.deepEqual(JSON.parse(json.stdout), {
      topic,
      connections: 3,
      userCount: 2,
      users,
      truncated: false,
    });
    const first = await pushline(target, ['audience', topic, '--json', '--max-users', '1', ...table()]);
    assert.deepEqual(JSON.parse(first.stdout).users, [users[0]]);
    assert.equal(JSON.parse(first.stdout).truncated, true);
    const firstText = await pushline(target, ['audience', topic, '--max-users', '1', ...table()]);
    assert.equal(firstText.stdout.trimEnd().split('\n').length, 2, 'the count and one user');
    assert.match(firstText.stderr, /the first 1 of 2 users; --max-users shows more/);

    const everyone = JSON.parse((await pushline(target, ['audience', '--all', '--json', ...table()])).stdout);
    assert.equal(everyone.all, true);
    assert.ok(everyone.connections >= 3, JSON.stringify(everyone));
    for (const user of users)
      assert.ok(everyone.users.includes(user), `${user} is in the broadcast audience`);
  });

  it('disconnects a user: the socket gets a disconnect frame with the reason and the stack closes it', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [leaving, staying] = [unique('leaving'), unique('staying')];
    const socket = await connect(leaving);
    const other = await connect(staying);
    const { stdout } = await pushline(target, ['disconnect', leaving, '--reason', 'logout', ...arn()]);
    assert.match(stdout, new RegExp(`^sent disconnect \\S+ to ${leaving} \\(reason: logout\\)`));
    const frame = await socket.next((f) => f.kind === 'disconnect');
    assert.deepEqual(frame, { kind: 'disconnect', reason: 'logout' });
    await closedWithin(socket);
    assert.equal((await request(other, { action: 'ping', id: 'still' }, 'pong')).id, 'still');
  });

  it('shows and changes what users mute, and a device of the user gets the change', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [muting, quiet] = [unique('muting'), unique('quiet')];
    const device = await connect(muting);
    const shown = await pushline(target, ['prefs', muting, quiet, ...table()]);
    assert.deepEqual(shown.stdout.trimEnd().split('\n'), [
      `${muting.padEnd(quiet.length)}  muted types: -; muted sources: -`,
      `${quiet.padEnd(muting.length)}  muted types: -; muted sources: -`,
    ]);

    const from = device.frames.length;
    const changed = await pushline(target, [
      'prefs',
      muting,
      '--mute-type',
      'promo,digest',
      '--mute-source',
      'ads',
      '--wait',
      '120',
      ...arn(),
      ...table(),
    ]);
    assert.match(
      changed.stdout,
      new RegExp(`^${muting}  muted types: digest, promo; muted sources: ads$`, 'm'),
    );
    const frame = await device.next((f) => f.kind === 'prefs', 30_000, from);
    assert.deepEqual(frame.muted, { types: ['digest', 'promo'], sources: ['ads'] });

    await pushline(target, [
      'prefs',
      muting,
      '--unmute-type',
      'digest',
      '--wait',
      '120',
      ...arn(),
      ...table(),
    ]);
    const json = JSON.parse((await pushline(target, ['prefs', muting, '--json', ...table()])).stdout);
    assert.equal(json.length, 1);
    assert.deepEqual(
      { user: json[0].user, mutedTypes: json[0].mutedTypes, mutedSources: json[0].mutedSources },
      { user: muting, mutedTypes: ['promo'], mutedSources: ['ads'] },
    );
    assert.ok(json[0].version > 0, 'a version once set');
  });

  it('refuses prefs without users, and --json with a change, with exit code 2', async () => {
    const noUsers = await failure(pushline(target, ['prefs', '--mute-type', 'promo']));
    assert.equal(noUsers.code, 2);
    assert.match(noUsers.stderr, /prefs needs user ids/);
    const both = await failure(
      pushline(target, ['prefs', 'alice', '--mute-type', 'promo', '--json', ...table()]),
    );
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--json only goes with reading preferences/);
  });
});

describe('the pushline command line against a stack that names its own topic claim', () => {
  let target: Target;
  before(async () => {
    target = await startTarget({ context: { topicClaim: 'channels', mandatoryTypes: 'security' } });
  });
  after(async () => {
    await target.stop();
  });

  it('mints with --topic-claim a token whose topics that stack grants', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const user = unique('claims');
    const mint = async (extra: string[]) =>
      (await pushline(target, ['token', user, '--topics', 'desk.*', ...extra])).stdout.trim();
    const granted = await TestSocket.open(
      `${target.outputs.WebSocketUrl}?token=${await mint(['--topic-claim', 'channels'])}`,
    );
    const ungranted = await TestSocket.open(`${target.outputs.WebSocketUrl}?token=${await mint([])}`);
    try {
      const topic = 'desk.7';
      assert.equal((await request(granted, { action: 'subscribe', topic }, 'subscribed')).kind, 'subscribed');
      const refused = await request(ungranted, { action: 'subscribe', topic }, 'subscribed');
      assert.equal(refused.code, 'FORBIDDEN', 'the default claim means nothing to this stack');
    } finally {
      await Promise.all([granted.close(), ungranted.close()]);
    }
  });

  it('says a change that mutes a mandatory type was not applied, with exit code 1', async () => {
    const user = unique('secure');
    const env = {
      PUSHLINE_TABLE_NAME: target.outputs.TableName,
      PUSHLINE_TOPIC_ARN: target.outputs.TopicArn,
    };
    const refused = await failure(
      pushline(target, ['prefs', user, '--mute-type', 'security', '--wait', '3'], { env }),
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`the change for ${user} was not applied within 3 s`));
    assert.match(refused.stderr, /npx pushline rejected/);
    const shown = await pushline(target, ['prefs', user, '--json'], { env });
    assert.deepEqual(JSON.parse(shown.stdout)[0].mutedTypes, []);
  });
});

describe('the pushline command line’s help and usage errors, tried as a new user would', () => {
  const cli = (args: string[]) => run(process.execPath, ['cli/bin.js', ...args], { timeout: 60_000 });

  it('prints the whole help for help, --help and -h, with exit code 0', async () => {
    for (const args of [['help'], ['--help'], ['-h'], []]) {
      const { stdout } = await cli(args);
      assert.match(stdout, /^Usage: npx pushline <command>/, args.join(' '));
      assert.match(stdout, /rejected \[--queue-url/);
    }
  });

  it('prints one command’s part for <command> --help, -h and help <command>', async () => {
    for (const args of [
      ['publish', '--help'],
      ['publish', '-h'],
      ['help', 'publish'],
    ]) {
      const { stdout } = await cli(args);
      assert.match(stdout, /^Usage: npx pushline publish \(--user/, args.join(' '));
      assert.doesNotMatch(stdout, /rejected \[--queue-url/, 'only the publish part');
    }
  });

  it('refuses an unknown command and an unknown option by name, with exit code 2', async () => {
    const command = await failure(cli(['pubish', '--user', 'a']));
    assert.equal(command.code, 2);
    assert.match(command.stderr, /no command "pubish"\. Commands: token, publish/);
    const option = await failure(cli(['token', 'alice', '--expire', '60']));
    assert.equal(option.code, 2);
    assert.match(option.stderr, /token does not take --expire/);
  });

  it('npm start -- --help prints its options without starting, and an unknown option is refused', async () => {
    const start = (args: string[]) =>
      run(process.execPath, ['--import', 'tsx', 'local/start.ts', ...args], { timeout: 60_000 });
    const { stdout } = await start(['--help']);
    assert.match(stdout, /^Usage: npm start/);
    assert.doesNotMatch(stdout, /starting/);
    const unknown = await failure(start(['--gateway-prot', '3005']));
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown option --gateway-prot/);
  });
});

/** A loopback port nothing listens on (taken, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
