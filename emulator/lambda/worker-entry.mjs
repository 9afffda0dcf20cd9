// Worker bootstrap, in JavaScript on purpose: Node 20 ignores `--import` in a worker's execArgv,
// so a worker cannot load TypeScript until tsx's loader hooks are registered from inside it.
import { register as registerHooks } from 'node:module';
import { register } from 'tsx/esm/api';

register();
// Registered last, so it runs first: it falls back to the SDK "the runtime provides" only after
// the usual resolution (tsx's included) found nothing.
registerHooks('./provided-sdk.mjs', import.meta.url);
await import('./worker.ts');
