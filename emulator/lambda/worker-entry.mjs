// Worker bootstrap, in JavaScript on purpose: Node 20 ignores `--import` in a worker's execArgv,
// so a worker cannot load TypeScript until tsx's loader hooks are registered from inside it.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
