import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonText } from '../../publisher/index.ts';
import { type NdjsonResult, parseNdjson } from '../../publisher/ndjson.ts';

const messagesOf = (result: NdjsonResult) => {
  assert.ok(result.ok, `expected no problems: ${JSON.stringify(result)}`);
  return result.messages;
};
const problemsOf = (result: NdjsonResult) => {
  assert.ok(!result.ok, 'expected problems');
  return result.problems;
};

describe('parseNdjson', () => {
  it('reads one message a line, with or without v, keeping line numbers and skipping blank lines', () => {
    const text = [
      '{"v":1,"id":"a1","to":{"users":["ann"]},"type":"t","data":1}',
      '',
      '   ',
      '{"to":{"topic":"news"},"type":"t","source":"s","data":null,"persist":false,"ttl":120}',
      '{"to":{"all":true},"type":"t","data":"x"}',
      '',
    ].join('\n');
    const messages = messagesOf(parseNdjson(text));
    assert.deepEqual(
      messages.map((m) => m.line),
      [1, 4, 5],
    );
    assert.deepEqual(messages[0]?.message, {
      id: 'a1',
      to: { users: ['ann'] },
      type: 't',
      data: new JsonText('1'),
    });
    assert.deepEqual(messages[1]?.message, {
      to: { topic: 'news' },
      type: 't',
      source: 's',
      data: new JsonText('null'),
      persist: false,
      ttl: 120,
    });
    assert.equal('v' in (messages[0]?.message ?? {}), false, 'the publisher adds v itself');
    assert.equal(messages[2]?.message.id, undefined, 'a line without id gets one when published');
  });

  it('keeps data byte for byte as the line has it, an 18-digit integer and spacing included', () => {
    const line = '{"to":{"users":["ann"]},"type":"t","data":{ "orderId": 654366374251302912, "s":"é\\n" }}';
    const [first] = messagesOf(parseNdjson(line));
    assert.deepEqual(first?.message.data, new JsonText('{ "orderId": 654366374251302912, "s":"é\\n" }'));
  });

  it('accepts CRLF line endings and a byte-order mark', () => {
    const text =
      '\uFEFF{"to":{"users":["a"]},"type":"t","data":[1]}\r\n{"to":{"users":["b"]},"type":"t","data":2}\r\n';
    const messages = messagesOf(parseNdjson(text));
    assert.deepEqual(
      messages.map((m) => m.message.data),
      [new JsonText('[1]'), new JsonText('2')],
    );
  });

  it('reports every bad line with its number and reason, and no messages', () => {
    const text = [
      '{"to":{"users":["ann"]},"type":"t","data":1}',
      '{"to":{"users":["ann"]},"type":"t"',
      '[1,2]',
      '{"v":2,"to":{"users":["ann"]},"type":"t","data":1}',
      '{"to":{"users":["ann"]},"data":1}',
      '{"to":{"topic":"a#b"},"type":"t","data":1}',
      '{"to":{"users":["ann"]},"type":"t","data":1,"extra":true}',
    ].join('\n');
    const problems = problemsOf(parseNdjson(text));
    assert.equal(problems.length, 6);
    assert.match(problems[0] ?? '', /^line 2: not JSON/);
    assert.match(problems[1] ?? '', /^line 3: not a JSON object/);
    assert.match(problems[2] ?? '', /^line 4: v: v must be 1/);
    assert.match(problems[3] ?? '', /^line 5: type: /);
    assert.match(problems[4] ?? '', /^line 6: .*a#b/);
    assert.match(problems[5] ?? '', /^line 7: .*extra/);
  });

  it('accepts more users than one envelope holds, as the publisher splits them, and drops repeats', () => {
    const users = Array.from({ length: 250 }, (_, i) => `u${i}`);
    const line = JSON.stringify({ to: { users: [...users, 'u0'] }, type: 't', data: null });
    const [first] = messagesOf(parseNdjson(line));
    assert.deepEqual(first?.message.to, { users });
  });

  it('refuses a bad user id anywhere in a long recipient list', () => {
    const users = Array.from({ length: 150 }, (_, i) => (i === 120 ? '' : `u${i}`));
    const line = JSON.stringify({ to: { users }, type: 't', data: null });
    assert.match(
      problemsOf(parseNdjson(line))[0] ?? '',
      /^line 1: to.users.120: a user id must not be empty/,
    );
  });

  it('refuses a message too large for a connection, before anything is sent', () => {
    const line = JSON.stringify({ to: { users: ['a'] }, type: 't', data: 'x'.repeat(130 * 1024) });
    assert.match(problemsOf(parseNdjson(line))[0] ?? '', /^line 1: the message is \d+ bytes/);
  });

  it('reads an empty text as no messages', () => {
    assert.deepEqual(messagesOf(parseNdjson('\n\n')), []);
  });
});
