/**
 * How the construct's handlers are bundled, shared by the construct (bundling `functions/*.ts` in a
 * checkout) and `npm run build` (prebuilding them into the package), so both ship the same code.
 * No CDK import: the build script reads it too.
 */

/** The construct's handlers: `functions/<name>.ts` in a checkout, `dist/handlers/<name>/` in the package. */
export const HANDLER_NAMES = ['authorizer', 'connect', 'disconnect', 'message', 'deliver', 'fanout'] as const;

/** One of the construct's handlers. */
export type HandlerName = (typeof HANDLER_NAMES)[number];

/** The bundle's file (ESM) and the handler string Lambda is given for it. */
export const HANDLER_FILE = 'index.mjs';

/** Lambda's handler setting for a bundle: the `handler` export of {@link HANDLER_FILE}. */
export const HANDLER = 'index.handler';

/**
 * esbuild settings of every handler bundle: ESM for Node 22 (the functions' runtime), minified with
 * a source map, the AWS SDK bundled (nothing external) so the deployed code runs the versions the
 * tests ran.
 */
export const HANDLER_BUNDLING = {
  target: 'node22',
  minify: true,
  sourceMap: true,
  mainFields: ['module', 'main'],
  // esbuild's ESM output has no `require`; CommonJS dependencies inside the bundle still call it.
  banner:
    "import { createRequire as __pushlineCreateRequire } from 'node:module'; const require = __pushlineCreateRequire(import.meta.url);",
} as const;
