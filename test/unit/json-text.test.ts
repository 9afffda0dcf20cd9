import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memberText } from '../../functions/shared/json-text.ts';
import { listFrameText, messageFrameText } from '../../functions/shared/message-frame.ts';

describe('memberText', () => {
  it('returns the exact text of a member, digits beyond 2^53 included', () => {
    const body = '{"v":1,"data":{"id":654366374251302912,"s":"a,}\\"]"} ,"type":"t"}';
    assert.equal(memberText(body, 'data'), '{"id":654366374251302912,"s":"a,}\\"]"}');
    assert.equal(
      JSON.stringify(JSON.parse(body).data).includes('654366374251302912'),
      false,
      'JSON.parse rounds it',
    );
  });

  it('reads scalars, arrays, nested values and whitespace around them', () => {
    const body = ' { "a" : [1, [2, {"x": "]"}]] , "b":-1.5e3,"c" :null, "d":true } ';
    assert.equal(memberText(body, 'a'), '[1, [2, {"x": "]"}]]');
    assert.equal(memberText(body, 'b'), '-1.5e3');
    assert.equal(memberText(body, 'c'), 'null');
    assert.equal(memberText(body, 'd'), 'true');
    assert.equal(memberText(body, 'e'), undefined);
  });

  it('ignores members of nested objects and keys with escapes', () => {
    const body = '{"x":{"data":1},"da\\u0074a":2}';
    assert.equal(memberText(body, 'data'), '2');
  });

  it('keeps the last of repeated keys, as JSON.parse does', () => {
    assert.equal(memberText('{"data":1,"data":[2]}', 'data'), '[2]');
  });

  it('agrees with JSON.parse on values a reviver cannot hurt', () => {
    const values = [0, -0.25, 'é\u2028', [], {}, [null, { a: [true, false] }], 'a"b\\c'];
    for (const value of values) {
      const body = JSON.stringify({ before: 1, data: value, after: 2 });
      assert.deepEqual(JSON.parse(memberText(body, 'data') as string), value);
    }
  });
});

describe('frame texts', () => {
  it('builds a message frame that parses back with every field', () => {
    const text = messageFrameText({
      id: 'm1',
      seq: 'S',
      type: 't',
      source: 's',
      ts: 5,
      read: true,
      dataJson: '[1]',
    });
    assert.deepEqual(JSON.parse(text), {
      kind: 'message',
      id: 'm1',
      seq: 'S',
      type: 't',
      source: 's',
      ts: 5,
      read: true,
      data: [1],
    });
  });

  it('builds a list frame around message texts', () => {
    const one = messageFrameText({ id: 'a', type: 't', ts: 1, dataJson: 'null' });
    const text = listFrameText({ kind: 'backlog' }, [one, one], { more: false, gap: true });
    assert.deepEqual(JSON.parse(text), {
      kind: 'backlog',
      messages: [JSON.parse(one), JSON.parse(one)],
      more: false,
      gap: true,
    });
    assert.deepEqual(JSON.parse(listFrameText({ kind: 'history' }, [], {})), {
      kind: 'history',
      messages: [],
    });
  });
});
