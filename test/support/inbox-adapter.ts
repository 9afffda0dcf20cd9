import { after, before, describe } from 'node:test';
import { createTables, probeJava, startDynamo } from '../../emulator/aws/dynamodb.ts';
import { LOCAL_REGION } from '../../emulator/topology.ts';
import type { InboxStore } from '../../functions/domain/inbox.ts';
import { TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { inboxContract } from './inbox-contract.ts';

/** A table with the production keys and local indexes (functions/shared/table-schema.ts). */
export function inboxTable(name: string) {
  return {
    name,
    partitionKey: TABLE_SCHEMA.partitionKey,
    sortKey: TABLE_SCHEMA.sortKey,
    ttlAttribute: TABLE_SCHEMA.ttlAttribute,
    localSecondaryIndexes: Object.values(TABLE_SCHEMA.localIndexes).map((index) => ({
      name: index.name,
      sortKey: index.sortKey,
    })),
  };
}

const table = inboxTable('inbox-store-test');

/**
 * Runs the inbox contract against the DynamoDB adapter on one local engine. One engine per test
 * file: the adapters build their client from the standard SDK variables when first loaded, as on
 * Lambda, and a process loads them once.
 */
export function adapterContract(engine: 'dynalite' | 'dynamodb-local'): void {
  const java = probeJava();
  const skip =
    engine === 'dynamodb-local' && !java.found ? `DynamoDB Local needs Java: ${java.reason}` : false;
  describe(`the DynamoDB inbox adapter on ${engine}`, { skip }, () => {
    let server: Awaited<ReturnType<typeof startDynamo>> | undefined;
    let store: InboxStore;
    before(async () => {
      server = await startDynamo({ engine });
      await createTables(server.endpoint, [table], LOCAL_REGION);
      process.env.AWS_ENDPOINT_URL = server.endpoint;
      process.env.AWS_REGION = LOCAL_REGION;
      process.env.AWS_ACCESS_KEY_ID = 'local';
      process.env.AWS_SECRET_ACCESS_KEY = 'local';
      const { createInboxStore } = await import('../../functions/adapters/inbox-store.ts');
      store = createInboxStore(table.name);
    });
    after(async () => {
      await server?.close();
    });
    inboxContract(() => store);
  });
}
