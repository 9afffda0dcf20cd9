import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The browser code of the console, bundled in memory. */
export interface ConsoleBundles {
  /** The message-center page's script (web/main.ts with the SDK inside). */
  readonly appJs: string;
  /** The client SDK alone as an ES module, for other pages: `import { PushlineClient } from '/sdk/pushline-client.js'`. */
  readonly sdkJs: string;
}

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** Bundles the page and the SDK for browsers with esbuild (no type check: `npm run typecheck` does that). */
export async function bundleConsole(): Promise<ConsoleBundles> {
  const [appJs, sdkJs] = await Promise.all([bundle(root('web/main.ts')), bundle(root('client/index.ts'))]);
  return { appJs, sdkJs };
}

async function bundle(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: 'inline',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced nothing for ${entry}`);
  return file.text;
}
