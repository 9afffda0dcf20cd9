import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_USERS_PER_ENVELOPE, parseEnvelope } from '../../functions/shared/envelope.ts';
import { InvalidEnvelopeError } from '../../functions/shared/errors.ts';

const valid = { v: 1, to: { users: ['alice'] }, type: 'greeting', data: { hi: 1 } };

function reasonOf(body: unknown): string {
  try {
    parseEnvelope(typeof body === 'string' ? body : JSON.stringify(body));
  } catch (error) {
    assert.ok(error instanceof InvalidEnvelopeError, 'expected an InvalidEnvelopeError');
    assert.equal(error.code, 'INVALID_ENVELOPE');
    return error.reason;
  }
  assert.fail('the envelope was accepted');
}

describe('parseEnvelope', () => {
  it('accepts a minimal users envelope and keeps every field', () => {
    const { envelope } = parseEnvelope(
      JSON.stringify({ ...valid, id: 'order-1:shipped', source: 'shop', ttl: 3600 }),
    );
    assert.deepEqual(envelope, { ...valid, id: 'order-1:shipped', source: 'shop', ttl: 3600 });
  });

  it('keeps data as the exact text published, so an 18-digit integer keeps its digits', () => {
    const body = `{"v":1,"to":{"users":["u"]},"type":"t","data":{"orderId":654366374251302912}}`;
    assert.equal(parseEnvelope(body).dataJson, '{"orderId":654366374251302912}');
  });

  it('rejects a body that is not JSON', () => {
    assert.equal(reasonOf('not json'), 'message body is not JSON');
  });

  it('rejects another version', () => {
    assert.match(reasonOf({ ...valid, v: 2 }), /v must be 1/);
  });

  it('rejects an envelope addressed two ways at once', () => {
    assert.match(reasonOf({ ...valid, to: { users: ['a'], all: true } }), /to must be exactly one of/);
  });

  it('rejects an empty or too long recipient list', () => {
    assert.match(reasonOf({ ...valid, to: { users: [] } }), /to/);
    const many = Array.from({ length: MAX_USERS_PER_ENVELOPE + 1 }, (_, i) => `u${i}`);
    assert.match(reasonOf({ ...valid, to: { users: many } }), /to/);
  });

  it('rejects a missing type and names the field', () => {
    const { type: _type, ...rest } = valid;
    assert.match(reasonOf(rest), /^type: /);
  });

  it('rejects a missing data field but accepts null', () => {
    const { data: _data, ...rest } = valid;
    assert.match(reasonOf(rest), /data is required/);
    assert.equal(parseEnvelope(JSON.stringify({ ...valid, data: null })).dataJson, 'null');
  });

  it('rejects unknown fields so that typos do not pass silently', () => {
    assert.match(reasonOf({ ...valid, tpye: 'x' }), /tpye/);
  });

  it('rejects ids with characters outside the allowed set', () => {
    assert.match(reasonOf({ ...valid, id: 'has space' }), /^id: /);
  });

  it('rejects a retention outside one minute to one year', () => {
    assert.match(reasonOf({ ...valid, ttl: 5 }), /^ttl: /);
    assert.match(reasonOf({ ...valid, ttl: 400 * 24 * 3600 }), /^ttl: /);
  });
});
