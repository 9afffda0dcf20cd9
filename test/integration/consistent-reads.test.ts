import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTables, startDynamo } from '../../emulator/aws/dynamodb.ts';
import { LOCAL_REGION } from '../../emulator/topology.ts';
import { inboxTable } from '../support/inbox-adapter.ts';

/**
 * The local engines are always consistent, so a missing ConsistentRead cannot show as a wrong
 * answer here; it shows in the requests. These reads carry the ordering argument of delivery
 * (domain/delivery.ts): the connection lookup after storing, and every inbox read of a resume.
 */
describe('the reads delivery and resume depend on', () => {
  let server: Awaited<ReturnType<typeof startDynamo>>;
  const reads: { command: string; index?: string; consistent: unknown }[] = [];
  let adapters: {
    connections: typeof import('../../functions/adapters/connection-store.ts');
    inbox: typeof import('../../functions/adapters/inbox-store.ts');
  };
  const table = inboxTable('consistent-reads-test');

  before(async () => {
    server = await startDynamo({ engine: 'dynalite' });
    await createTables(server.endpoint, [table], LOCAL_REGION);
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: server.endpoint,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    const { dynamo } = await import('../../functions/adapters/dynamo-client.ts');
    dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { ConsistentRead?: unknown; IndexName?: string };
        if (/^(Query|Get)/.test(String(context.commandName)))
          reads.push({
            command: String(context.commandName),
            index: input.IndexName,
            consistent: input.ConsistentRead,
          });
        return next(args);
      },
      { step: 'initialize' },
    );
    adapters = {
      connections: await import('../../functions/adapters/connection-store.ts'),
      inbox: await import('../../functions/adapters/inbox-store.ts'),
    };
  });
  after(async () => {
    await server?.close();
  });

  it('looks up connections with a strongly consistent read', async () => {
    reads.length = 0;
    await adapters.connections.listUserConnections(table.name, 'u1');
    assert.deepEqual(reads, [{ command: 'QueryCommand', index: undefined, consistent: true }]);
  });

  it('reads the inbox for resume, history and unread counts strongly consistently', async () => {
    const store = adapters.inbox.createInboxStore(table.name);
    reads.length = 0;
    const nowSeconds = Math.floor(Date.now() / 1000);
    await store.page('u1', { fromSeq: '0', limit: 10, nowSeconds });
    await store.page('u1', { limit: 10, nowSeconds });
    await store.exists('u1', '01M0000000AAAAAAAAAAAAAAAA', nowSeconds);
    await store.unread('u1', Date.now());
    await store.unreadPage('u1', { limit: 10, nowSeconds });
    assert.equal(reads.length, 5);
    for (const read of reads) assert.equal(read.consistent, true, `${read.command} on ${read.index}`);
  });
});
