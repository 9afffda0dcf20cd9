import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourceMetadata, TemplateTopologyOptions } from '../emulator/template-topology.ts';
import type { Topology } from '../emulator/topology.ts';
import { ENV } from '../functions/shared/environment.ts';
import type { ManagementClient } from '../functions/shared/management-client.ts';
import { LOCAL_JWT_SECRET } from './tokens.ts';

/** What the synthesized template depends on: a change to any of these synthesizes it again. */
const TEMPLATE_INPUTS = ['infra', 'functions/shared', 'cdk.json', 'package-lock.json'];

/** Where synthesized templates are kept, one per hash of their inputs. */
const CACHE_DIR = '.pushline/template-cache';

/**
 * The CDK app's template, synthesized without bundling. Kept on disk by a hash of the
 * infrastructure sources, so that `npm start` and every test file do not pay the synth each time.
 */
export async function pushlineTemplate(
  log: (line: string) => void = () => {},
  context: Record<string, string> = {},
): Promise<object> {
  const hash = createHash('sha256')
    .update(await hashInputs(TEMPLATE_INPUTS))
    .update(JSON.stringify(Object.entries(context).sort()))
    .digest('hex')
    .slice(0, 16);
  const cached = join(CACHE_DIR, `${hash}.json`);
  try {
    return JSON.parse(await readFile(cached, 'utf8')) as object;
  } catch {
    // Not synthesized for these sources yet.
  }
  const started = Date.now();
  const template = await synthesizeTemplate({ context });
  log(`[cdk] synthesized the stack template in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await mkdir(CACHE_DIR, { recursive: true });
  await writeFile(cached, JSON.stringify(template));
  return template;
}

/** Options of {@link synthesizeTemplate}. */
export interface SynthesizeOptions {
  /** CDK context entries (as `-c key=value` gives them). */
  readonly context?: Record<string, unknown>;
}

/**
 * Synthesizes the project's CDK app in-process without bundling (a few seconds) and returns the
 * stack's template. The CDK is loaded only here, so reading a template never needs it.
 */
export async function synthesizeTemplate(options: SynthesizeOptions = {}): Promise<object> {
  const { createApp } = await import('../infra/pushline-stack.ts');
  const outdir = await mkdtemp(join(tmpdir(), 'pushline-synth-'));
  try {
    const { app, stack } = createApp({
      // An empty list of stacks to bundle: assets point at the sources and esbuild never runs.
      context: { ...options.context, 'aws:cdk:bundling-stacks': [] },
      outdir,
      nag: false,
      validation: false,
    });
    return app.synth().getStackByName(stack.stackName).template as object;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

/**
 * Metadata keys Pushline's construct puts on each function (`FUNCTION_METADATA` of infra/pushline.ts,
 * repeated here so that starting the stack never loads the CDK; a test keeps the two equal).
 */
export const PUSHLINE_SOURCE_METADATA: SourceMetadata = {
  entry: 'pushline:entry',
  handler: 'pushline:handler',
};

/**
 * Environment the template gives that has no local equivalent, per function (named after its
 * source file): the authorizer reads a Secrets Manager ARN when deployed, the local secret here.
 */
export const LOCAL_ENVIRONMENT_OVERRIDES = {
  authorizer: { [ENV.jwtSecretArn]: null, [ENV.jwtSecret]: LOCAL_JWT_SECRET },
} as const;

/** How the emulator reads Pushline's template: where function sources are named, and local overrides. */
export const PUSHLINE_TEMPLATE_OPTIONS: TemplateTopologyOptions = {
  sourceMetadata: PUSHLINE_SOURCE_METADATA,
  environmentOverrides: LOCAL_ENVIRONMENT_OVERRIDES,
};

/** Local settings applied on top of what the template says. */
export interface LocalTuning {
  readonly deliveryConcurrency?: number;
  /** How the functions that post call the management API. @default the functions' own default */
  readonly managementClient?: ManagementClient;
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
      if (ENV.callbackUrl in environment && tuning.managementClient !== undefined) {
        environment[ENV.managementClient] = tuning.managementClient;
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
