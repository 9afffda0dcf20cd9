#!/usr/bin/env node
// `npx pushline`. In a checkout, registers tsx and runs the TypeScript entry point beside this file;
// in the installed package (which ships dist/, not the sources), runs the compiled one.
import { existsSync } from 'node:fs';

// The AWS SDK's notice that future versions need Node 22 is noise for a command-line user.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const source = new URL('./pushline.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/cli/pushline.js');
}
