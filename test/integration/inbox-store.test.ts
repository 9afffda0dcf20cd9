import { adapterContract } from '../support/inbox-adapter.ts';

adapterContract('dynalite');
