import { adapterContract } from '../support/inbox-adapter.ts';

adapterContract('dynamodb-local');
