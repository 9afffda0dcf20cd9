import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ENV } from '../functions/shared/environment.ts';
import { synthesizeTemplate } from './template-topology.ts';
import { LOCAL_JWT_SECRET } from './tokens.ts';
import type { Topology } from './topology.ts';

/** What the synthesized template depends on: a change to any of these synthesizes it again. */
const TEMPLATE_INPUTS = ['infra', 'functions/shared', 'cdk.json', 'package-lock.json'];

/** Where synthesized templates are kept, one per hash of their inputs. */
const CACHE_DIR = '.pushline/template-cache';

/**
 * The CDK app's template, synthesized without bundling. Kept on disk by a hash of the
 * infrastructure sources, so that `npm start` and every test file do not pay the synth each time.
 */
export async function pushlineTemplate(log: (line: string) => void = () => {}): Promise<object> {
  const hash = await hashInputs(TEMPLATE_INPUTS);
  const cached = join(CACHE_DIR, `${hash}.json`);
  try {
    return JSON.parse(await readFile(cached, 'utf8')) as object;
  } catch {
    // Not synthesized for these sources yet.
  }
  const started = Date.now();
  const template = await synthesizeTemplate();
  log(`[cdk] synthesized the stack template in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await mkdir(CACHE_DIR, { recursive: true });
  await writeFile(cached, JSON.stringify(template));
  return template;
}

/**
 * Environment the template gives that has no local equivalent, per function (named after its
 * source file): the authorizer reads a Secrets Manager ARN when deployed, the local secret here.
 */
export const LOCAL_ENVIRONMENT_OVERRIDES = {
  authorizer: { [ENV.jwtSecretArn]: null, [ENV.jwtSecret]: LOCAL_JWT_SECRET },
} as const;

/** Local settings applied on top of what the template says. */
export interface LocalTuning {
  readonly deliveryConcurrency?: number;
}

/** Applies local tuning on top of the template's topology. */
export function localizeTopology(topology: Topology, tuning: LocalTuning = {}): Topology {
  return {
    ...topology,
    functions: topology.functions.map((fn) => {
      const environment = { ...fn.environment };
      if (ENV.deliveryConcurrency in environment && tuning.deliveryConcurrency !== undefined) {
        environment[ENV.deliveryConcurrency] = String(tuning.deliveryConcurrency);
      }
      return { ...fn, environment };
    }),
  };
}

async function hashInputs(paths: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const path of paths) {
    for (const file of await listFiles(path)) {
      hash.update(file);
      hash.update(await readFile(file));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

async function listFiles(path: string): Promise<string[]> {
  try {
    const entries = await readdir(path, { withFileTypes: true });
    const files = await Promise.all(
      entries
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((entry) => (entry.isDirectory() ? listFiles(join(path, entry.name)) : [join(path, entry.name)])),
    );
    return files.flat();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return [path];
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
