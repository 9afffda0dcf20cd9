import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseClientFrame } from '../../functions/domain/client-frame.ts';
import {
  type SendLimiter,
  SendRefusedError,
  send,
  sentMessageId,
} from '../../functions/domain/conversation.ts';
import { parsePublished } from '../../functions/shared/envelope.ts';
import type { SendFrame } from '../../functions/shared/protocol.ts';

function ports(allow = true) {
  const published: { text: string; attributes: Record<string, string> }[] = [];
  let taken = 0;
  const limiter: SendLimiter = {
    async take() {
      taken++;
      return allow;
    },
  };
  return {
    published,
    taken: () => taken,
    ports: {
      limiter,
      outbox: {
        publish: async (text: string, attributes: Record<string, string>) =>
          void published.push({ text, attributes }),
      },
    },
  };
}
const rules = { toUsers: true, openTopics: ['lobby'], services: ['robot'] };
const ann = { userId: 'ann', connectionId: 'c1', grants: ['room.*'] };
const frame = (overrides: Partial<SendFrame> = {}): SendFrame => ({
  action: 'send',
  id: 'm1',
  to: { user: 'bo' },
  type: 'chat.text',
  data: null,
  ...overrides,
});

describe('client send', () => {
  it('publishes an envelope from the verified sender to the recipient and the sender, data as written', async () => {
    const p = ports();
    const sent = await send(p.ports, rules, ann, frame(), '{"n":654366374251302912}', 0);
    assert.deepEqual(sent, { kind: 'sent', id: 'm1', messageId: sentMessageId('ann', 'm1') });
    const [only] = p.published;
    assert.ok(only?.text.endsWith(',"data":{"n":654366374251302912}}'));
    const published = parsePublished(only?.text ?? '');
    assert.equal(published.kind, 'message');
    if (published.kind !== 'message') return;
    assert.deepEqual(published.envelope.to, { users: ['bo', 'ann'] });
    assert.equal(published.envelope.from, 'ann');
    assert.equal(published.envelope.id, sent.messageId);
    assert.deepEqual(only?.attributes, { type: 'chat.text', from: 'ann' });
  });

  it('addresses a user writing to themselves once', async () => {
    const p = ports();
    await send(p.ports, rules, ann, frame({ to: { user: 'ann' } }), 'null', 0);
    const published = parsePublished(p.published[0]?.text ?? '');
    assert.ok(published.kind === 'message' && 'users' in published.envelope.to);
    if (published.kind === 'message') assert.deepEqual(published.envelope.to, { users: ['ann'] });
  });

  it('keys message ids by sender: the same id from two users is two messages', () => {
    assert.equal(sentMessageId('ann', 'm1'), sentMessageId('ann', 'm1'));
    assert.notEqual(sentMessageId('ann', 'm1'), sentMessageId('bo', 'm1'));
    assert.match(sentMessageId('ann', 'x'.repeat(64)), /^[A-Za-z0-9._:-]{1,128}$/, 'a valid envelope id');
  });

  it('sends to topics the token grants or that are open, and refuses others before taking a token', async () => {
    const p = ports();
    await send(p.ports, rules, ann, frame({ to: { topic: 'room.1' } }), 'null', 0);
    await send(p.ports, rules, ann, frame({ to: { topic: 'lobby' } }), 'null', 0);
    await assert.rejects(
      send(p.ports, rules, ann, frame({ to: { topic: 'admin' } }), 'null', 0),
      (error: unknown) =>
        error instanceof SendRefusedError && error.refusal === 'FORBIDDEN' && error.topic === 'admin',
    );
    await assert.rejects(
      send(p.ports, { ...rules, toUsers: false }, ann, frame(), 'null', 0),
      (error: unknown) => error instanceof SendRefusedError && error.refusal === 'FORBIDDEN',
    );
    assert.equal(p.taken(), 2);
    assert.equal(p.published.length, 2);
  });

  it('refuses a spent budget and an oversized message, publishing nothing', async () => {
    const limited = ports(false);
    await assert.rejects(
      send(limited.ports, rules, ann, frame(), 'null', 0),
      (error: unknown) => error instanceof SendRefusedError && error.refusal === 'RATE_LIMITED',
    );
    const big = ports();
    await assert.rejects(
      send(big.ports, rules, ann, frame(), `"${'x'.repeat(128 * 1024)}"`, 0),
      (error: unknown) => error instanceof SendRefusedError && error.refusal === 'TOO_LARGE',
    );
    assert.deepEqual([...limited.published, ...big.published], []);
  });

  it('parses the send frame and names what is wrong', () => {
    assert.deepEqual(
      parseClientFrame('{"action":"send","id":"a","to":{"topic":"t"},"type":"x","data":[1]}'),
      {
        action: 'send',
        id: 'a',
        to: { topic: 't' },
        type: 'x',
        data: [1],
      },
    );
    for (const [body, field] of [
      ['{"action":"send","to":{"user":"b"},"type":"x","data":1}', /id/],
      ['{"action":"send","id":"a","to":{"user":"b","topic":"t"},"type":"x","data":1}', /to/],
      ['{"action":"send","id":"a","to":{"user":"b"},"data":1}', /type/],
      ['{"action":"send","id":"a","to":{"user":"b"},"type":"x"}', /data/],
    ] as const) {
      assert.throws(
        () => parseClientFrame(body),
        (error: Error) => field.test(error.message),
        body,
      );
    }
  });

  it('hands a message to a named service on the inbound topic, with the verified sender, never to users', async () => {
    const p = ports();
    const inbound: { text: string; attributes: Record<string, string> }[] = [];
    const withInbound = {
      ...p.ports,
      inbound: {
        publish: async (text: string, attributes: Record<string, string>) =>
          void inbound.push({ text, attributes }),
      },
    };
    const sent = await send(
      withInbound,
      rules,
      ann,
      frame({ to: { service: 'robot' }, type: 'question' }),
      '{"q":"when?"}',
      1234,
    );
    assert.equal(p.published.length, 0, 'nothing on the Pushline topic');
    const [only] = inbound;
    assert.deepEqual(JSON.parse(only?.text ?? '{}'), {
      v: 1,
      kind: 'service-message',
      id: sent.messageId,
      service: 'robot',
      from: 'ann',
      type: 'question',
      ts: 1234,
      data: { q: 'when?' },
    });
    assert.deepEqual(only?.attributes, { service: 'robot', from: 'ann', type: 'question' });
    await assert.rejects(
      send(withInbound, rules, ann, frame({ to: { service: 'billing' } }), 'null', 0),
      (error: unknown) =>
        error instanceof SendRefusedError && error.refusal === 'FORBIDDEN' && /billing/.test(error.message),
    );
    await assert.rejects(
      send(p.ports, rules, ann, frame({ to: { service: 'robot' } }), 'null', 0),
      (error: unknown) => error instanceof SendRefusedError && error.refusal === 'FORBIDDEN',
      'no inbound topic: no service',
    );
  });
});
