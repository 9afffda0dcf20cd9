import { describe } from 'node:test';
import { MemoryInbox } from '../support/fakes.ts';
import { inboxContract } from '../support/inbox-contract.ts';

describe('the in-memory inbox used by the unit tests behaves as the DynamoDB adapter', () => {
  const store = new MemoryInbox();
  inboxContract(() => store);
});
