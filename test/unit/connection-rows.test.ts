import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionRows } from '../../functions/adapters/connection-store.ts';
import { shardOf } from '../../functions/shared/topics.ts';

describe('connectionRows', () => {
  it('gives the connection row in the user partition and the broadcast row in the connection shard', () => {
    const record = {
      userId: 'ada',
      connectionId: 'eHrdFcnvvHcCE-w=',
      connectedAt: 1_700_000_000_000,
      sourceIp: '127.0.0.1',
      userAgent: 'test',
      expiresAt: 1_700_007_800,
    };

    const [connection, broadcast, ...rest] = connectionRows(record);

    assert.deepEqual(connection, { pk: 'USER#ada', sk: 'CONN#eHrdFcnvvHcCE-w=', ...record });
    assert.deepEqual(broadcast, {
      pk: `ALL#${shardOf(record.connectionId)}`,
      sk: 'CONN#eHrdFcnvvHcCE-w=',
      userId: 'ada',
      connectionId: 'eHrdFcnvvHcCE-w=',
      connectedAt: 1_700_000_000_000,
      expiresAt: 1_700_007_800,
    });
    assert.equal(rest.length, 0);
  });
});
