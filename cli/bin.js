#!/usr/bin/env node
// Runs the TypeScript CLI from a checkout: registers tsx, then loads the real entry point.
import { register } from 'tsx/esm/api';

// The AWS SDK's notice that future versions need Node 22 is noise for a command-line user.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('./pushline.ts');
