import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseClientFrame } from '../../functions/domain/client-frame.ts';
import { InvalidFrameError } from '../../functions/shared/errors.ts';

function codeOf(body: string): string {
  try {
    parseClientFrame(body);
  } catch (error) {
    assert.ok(error instanceof InvalidFrameError);
    return error.frameCode;
  }
  assert.fail('the frame was accepted');
}

describe('parseClientFrame', () => {
  it('reads the served actions', () => {
    assert.deepEqual(parseClientFrame('{"action":"ping","id":"1"}'), { action: 'ping', id: '1' });
    assert.deepEqual(parseClientFrame('{"action":"resume"}'), { action: 'resume' });
    assert.deepEqual(parseClientFrame('{"action":"ack","ids":["m1"]}'), { action: 'ack', ids: ['m1'] });
    assert.deepEqual(parseClientFrame('{"action":"history","before":"01M8","limit":10}'), {
      action: 'history',
      before: '01M8',
      limit: 10,
    });
  });

  it('answers BAD_FRAME to non-JSON and to JSON without an action', () => {
    assert.equal(codeOf('hello'), 'BAD_FRAME');
    assert.equal(codeOf('[1,2]'), 'BAD_FRAME');
    assert.equal(codeOf('{"type":"x"}'), 'BAD_FRAME');
  });

  it('answers UNKNOWN_ACTION to an action nobody serves', () => {
    assert.equal(codeOf('{"action":"fly"}'), 'UNKNOWN_ACTION');
    assert.equal(codeOf('{"action":"toString"}'), 'UNKNOWN_ACTION');
  });

  it('reads prefs: a question without fields, a change with mute and unmute lists', () => {
    assert.deepEqual(parseClientFrame('{"action":"prefs"}'), { action: 'prefs' });
    assert.deepEqual(
      parseClientFrame('{"action":"prefs","mute":{"types":["promo"]},"unmute":{"sources":["shop"]}}'),
      {
        action: 'prefs',
        mute: { types: ['promo'] },
        unmute: { sources: ['shop'] },
      },
    );
    assert.equal(
      codeOf('{"action":"prefs","mute":["promo"]}'),
      'INVALID_REQUEST',
      'lists go under types or sources',
    );
    assert.equal(codeOf('{"action":"prefs","mute":{"kinds":["x"]}}'), 'INVALID_REQUEST');
  });

  it('reads subscribe and unsubscribe, with a replay cursor or without', () => {
    assert.deepEqual(parseClientFrame('{"action":"subscribe","topic":"news.sport"}'), {
      action: 'subscribe',
      topic: 'news.sport',
    });
    assert.deepEqual(parseClientFrame('{"action":"subscribe","topic":"/topic/a","after":"01J"}'), {
      action: 'subscribe',
      topic: '/topic/a',
      after: '01J',
    });
    assert.deepEqual(parseClientFrame('{"action":"unsubscribe","topic":"news"}'), {
      action: 'unsubscribe',
      topic: 'news',
    });
  });

  it('refuses a topic name outside the allowed characters or length, naming the rule', () => {
    for (const topic of ['', 'a#b', 'news*', 'x'.repeat(129), 'with space']) {
      const frame = JSON.stringify({ action: 'subscribe', topic });
      assert.equal(codeOf(frame), 'INVALID_REQUEST', topic);
    }
    assert.throws(
      () => parseClientFrame('{"action":"subscribe","topic":"a#b"}'),
      /may contain only letters, digits/,
    );
  });

  it('reads "mark all as read", with or without a source', () => {
    assert.deepEqual(parseClientFrame('{"action":"ack","all":true}'), { action: 'ack', all: true });
    assert.deepEqual(parseClientFrame('{"action":"ack","all":true,"source":"crm"}'), {
      action: 'ack',
      all: true,
      source: 'crm',
    });
  });

  it('refuses an ack with both ids and all, or a source without all', () => {
    assert.equal(codeOf('{"action":"ack","ids":["a"],"all":true}'), 'INVALID_REQUEST');
    assert.equal(codeOf('{"action":"ack","ids":["a"],"source":"crm"}'), 'INVALID_REQUEST');
    assert.equal(codeOf('{"action":"ack"}'), 'INVALID_REQUEST');
  });

  it('answers INVALID_REQUEST to a served action with bad fields', () => {
    assert.equal(codeOf('{"action":"ack","ids":[]}'), 'INVALID_REQUEST');
    assert.equal(codeOf('{"action":"resume","limit":0}'), 'INVALID_REQUEST');
  });

  it('reads register and unregister, refusing an unknown platform and an APNs token that is not hex', () => {
    assert.deepEqual(parseClientFrame('{"action":"register","platform":"GCM","token":"fcm:1"}'), {
      action: 'register',
      platform: 'GCM',
      token: 'fcm:1',
    });
    assert.deepEqual(parseClientFrame('{"action":"unregister","token":"ab12"}'), {
      action: 'unregister',
      token: 'ab12',
    });
    assert.equal(codeOf('{"action":"register","platform":"WNS","token":"t"}'), 'INVALID_REQUEST');
    assert.equal(codeOf('{"action":"register","platform":"APNS","token":"zz"}'), 'INVALID_REQUEST');
    assert.equal(codeOf('{"action":"register","platform":"APNS"}'), 'INVALID_REQUEST');
    assert.equal(codeOf('{"action":"unregister","token":""}'), 'INVALID_REQUEST');
  });
});
