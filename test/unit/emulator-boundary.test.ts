import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EMULATOR = join(ROOT, 'emulator');
const SOURCE = /\.(?:[cm]?[jt]s)$/;

/** Module specifiers of static imports, re-exports, side-effect imports and literal dynamic imports. */
function specifiersOf(code: string): string[] {
  const patterns = [
    /\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*[,)]/g,
  ];
  return patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((match) => match[1] as string));
}

/** Why a specifier in `file` reaches outside `folder`, or undefined when it stays inside (or is a package). */
function escapes(specifier: string, file: string, folder: string, ownPackage: string): string | undefined {
  if (specifier.startsWith('node:')) return undefined;
  if (specifier === ownPackage || specifier.startsWith(`${ownPackage}/`)) return 'the project itself';
  if (specifier.startsWith('#')) return 'a subpath import of the project';
  const path = specifier.startsWith('file:')
    ? fileURLToPath(specifier)
    : specifier.startsWith('.') || isAbsolute(specifier)
      ? resolve(dirname(file), specifier)
      : undefined;
  if (path === undefined) return undefined; // a bare npm package
  const inside = relative(folder, path);
  return inside.startsWith('..') || isAbsolute(inside) ? relative(ROOT, path) : undefined;
}

async function sourceFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && SOURCE.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

describe('the emulator folder', () => {
  it('imports only node built-ins, npm packages and its own files', async () => {
    const { name: ownPackage } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      name: string;
    };
    const files = await sourceFiles(EMULATOR);
    assert.ok(files.length > 10, `expected the emulator's sources under ${EMULATOR}`);
    const violations: string[] = [];
    for (const file of files) {
      for (const specifier of specifiersOf(await readFile(file, 'utf8'))) {
        const target = escapes(specifier, file, EMULATOR, ownPackage);
        if (target !== undefined)
          violations.push(`${relative(ROOT, file)} imports '${specifier}' (${target}, outside emulator/)`);
      }
    }
    assert.deepEqual(violations, [], `the emulator must not depend on the app:\n${violations.join('\n')}`);
  });

  it('recognises static, re-export, side-effect and dynamic imports that leave the folder', () => {
    const file = join(EMULATOR, 'gateway', 'sample.ts');
    const code = [
      "import { ENV } from '../../functions/shared/environment.ts';",
      "import type {\n  Topology,\n} from '../topology.ts';",
      "export { PortInUseError } from '../../local/errors.ts';",
      "import '../../infra/pushline.ts';",
      "const stack = await import('../../local/stack.ts');",
      "import { WebSocketServer } from 'ws';",
      "import { once } from 'node:events';",
    ].join('\n');
    const outside = specifiersOf(code).filter(
      (specifier) => escapes(specifier, file, EMULATOR, 'pushline') !== undefined,
    );
    assert.deepEqual(outside.sort(), [
      '../../functions/shared/environment.ts',
      '../../infra/pushline.ts',
      '../../local/errors.ts',
      '../../local/stack.ts',
    ]);
  });
});

describe('the functions folder', () => {
  it('is reached from the other folders only through its named contract, functions/shared/', async () => {
    const FUNCTIONS = join(ROOT, 'functions');
    const SHARED = join(FUNCTIONS, 'shared');
    // bench/ and test/ are left out on purpose: they measure and test the internals.
    const folders = ['client', 'web', 'publisher', 'cli', 'local', 'infra', 'localstack', 'emulator'];
    const violations: string[] = [];
    for (const folder of folders) {
      for (const file of await sourceFiles(join(ROOT, folder))) {
        for (const specifier of specifiersOf(await readFile(file, 'utf8'))) {
          if (!specifier.startsWith('.')) continue;
          const path = resolve(dirname(file), specifier);
          const inFunctions = !relative(FUNCTIONS, path).startsWith('..');
          const inShared = !relative(SHARED, path).startsWith('..');
          if (inFunctions && !inShared) violations.push(`${relative(ROOT, file)} imports '${specifier}'`);
        }
      }
    }
    assert.deepEqual(violations, [], `import these through functions/shared/:\n${violations.join('\n')}`);
  });
});
