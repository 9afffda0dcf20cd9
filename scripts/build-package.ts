/**
 * `npm run build` (and `prepack`): the installable package in dist/. tsc compiles the client SDK,
 * the publisher, the CDK construct and the CLI to ESM JavaScript with type declarations
 * (tsconfig.build.json); esbuild prebuilds each handler into dist/handlers/<name>/index.mjs with the
 * construct's own bundling settings, so the construct deploys them as they are from the package.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { HANDLER_BUNDLING, HANDLER_FILE, HANDLER_NAMES } from '../infra/handler-bundling.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const run = promisify(execFile);

await rm(DIST, { recursive: true, force: true });
await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json')], {
  cwd: ROOT,
});
await Promise.all(
  HANDLER_NAMES.map((name) =>
    build({
      entryPoints: [join(ROOT, 'functions', `${name}.ts`)],
      outfile: join(DIST, 'handlers', name, HANDLER_FILE),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: HANDLER_BUNDLING.target,
      minify: HANDLER_BUNDLING.minify,
      sourcemap: HANDLER_BUNDLING.sourceMap,
      mainFields: [...HANDLER_BUNDLING.mainFields],
      banner: { js: HANDLER_BUNDLING.banner },
      // Nothing external, the AWS SDK included, as the construct bundles from source.
      external: [],
      logLevel: 'warning',
    }),
  ),
);
console.log(`Built ${DIST}: the compiled modules and ${HANDLER_NAMES.length} prebuilt handlers.`);
