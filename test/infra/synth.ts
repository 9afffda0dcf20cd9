/**
 * Synthesizes the project's stack for the infra tests. Bundling is skipped (context
 * `aws:cdk:bundling-stacks` = []): assets point at the sources and esbuild never runs, so a synth
 * takes about a second; test/infra/bundling.test.ts is the one place that bundles for real.
 */
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { PushlineStack } from '../../infra/pushline-stack.ts';
import { createApp } from '../../infra/pushline-stack.ts';

/** A synthesized stack with its template. */
export interface Synthesized {
  readonly app: App;
  readonly stack: PushlineStack;
  readonly template: Template;
  /** The raw template JSON. */
  readonly json: Record<string, unknown> & { Resources: Record<string, CfnResource> };
}

/** One resource of the template. */
export interface CfnResource {
  readonly Type: string;
  /** Always present (empty when the template has none). */
  readonly Properties: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
  readonly DependsOn?: string[];
  readonly DeletionPolicy?: string;
}

/** Builds the stack from context values (strings, as `-c key=value` gives them), without bundling. */
export function synth(
  context: Record<string, unknown> = {},
  change?: (stack: PushlineStack) => void,
): Synthesized {
  const { app, stack } = createApp({
    context: { ...context, 'aws:cdk:bundling-stacks': [] },
    nag: false,
    validation: false,
  });
  change?.(stack);
  const template = Template.fromStack(stack);
  const json = template.toJSON() as Synthesized['json'];
  for (const [id, resource] of Object.entries(json.Resources)) {
    json.Resources[id] = { ...resource, Properties: resource.Properties ?? {} };
  }
  return { app, stack, template, json };
}

/** Logical ids and resources of one type. */
export function resourcesOf(json: Synthesized['json'], type: string): [string, CfnResource][] {
  return Object.entries(json.Resources).filter(([, resource]) => resource.Type === type);
}

/** The logical id of the construct's child with the given path suffix (e.g. `Pushline/Deliver`). */
export function logicalIdOf(stack: PushlineStack, path: string): string {
  const construct = stack.node.findAll().find((node) => node.node.path.endsWith(`/${path}`));
  const cfn = construct?.node.defaultChild ?? construct;
  if (!cfn) throw new Error(`No construct at ${path}`);
  return stack.resolve((cfn as unknown as { logicalId: string }).logicalId) as string;
}
