/**
 * What a handler's code does, read from its esbuild bundle: the AWS SDK commands it can send and
 * the environment variables it reads. The SDK stays external so its calls remain visible by name,
 * and tree shaking drops code the handler cannot reach.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ENV } from '../../functions/shared/environment.ts';
import { HANDLER_NAMES, type HandlerName } from '../../infra/handler-bundling.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The handlers of the construct, named like their source files. */
export const HANDLERS = HANDLER_NAMES;

export type { HandlerName };

/** What the analysis found in one handler. */
export interface HandlerCode {
  /** SDK command classes the bundle instantiates (`new XCommand(`). */
  readonly commands: ReadonlySet<string>;
  /** Environment variables (values of ENV) its sources read. */
  readonly reads: ReadonlySet<string>;
  /** Environment variables it reads with `requireEnv` (the cold start fails without them). */
  readonly requires: ReadonlySet<string>;
}

/** Bundles a handler in memory and reads its commands and environment variables. */
export async function analyzeHandler(name: HandlerName): Promise<HandlerCode> {
  const result = await build({
    entryPoints: [resolve(ROOT, 'functions', `${name}.ts`)],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    external: ['@aws-sdk/*', '@smithy/*', '@aws-lambda-powertools/*', 'jose', 'zod'],
    logLevel: 'silent',
  });
  const code = result.outputFiles.map((file) => file.text).join('\n');
  // esbuild appends digits to a name that collides with another module's: PutCommand2.
  const commands = new Set(
    [...code.matchAll(/new ([A-Z]\w*?Command)\d*\(/g)].map((match) => match[1] as string),
  );

  const keyToName = new Map(Object.entries(ENV));
  const reads = new Set<string>();
  const requires = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    if (input.includes('node_modules') || input.endsWith('functions/shared/environment.ts')) continue;
    const source = await readFile(resolve(ROOT, input), 'utf8');
    for (const match of source.matchAll(/\bENV\.(\w+)/g)) {
      const variable = keyToName.get(match[1] as string);
      if (variable !== undefined) reads.add(variable);
    }
    for (const match of source.matchAll(/requireEnv\(ENV\.(\w+)\)/g)) {
      const variable = keyToName.get(match[1] as string);
      if (variable !== undefined) requires.add(variable);
    }
  }
  return { commands, reads, requires };
}

/** The IAM action each SDK command needs; a command missing here fails the grants test. */
export const COMMAND_ACTIONS: Readonly<Record<string, string>> = {
  // @aws-sdk/lib-dynamodb
  GetCommand: 'dynamodb:GetItem',
  PutCommand: 'dynamodb:PutItem',
  UpdateCommand: 'dynamodb:UpdateItem',
  DeleteCommand: 'dynamodb:DeleteItem',
  QueryCommand: 'dynamodb:Query',
  ScanCommand: 'dynamodb:Scan',
  BatchGetCommand: 'dynamodb:BatchGetItem',
  BatchWriteCommand: 'dynamodb:BatchWriteItem',
  // @aws-sdk/client-dynamodb
  GetItemCommand: 'dynamodb:GetItem',
  PutItemCommand: 'dynamodb:PutItem',
  UpdateItemCommand: 'dynamodb:UpdateItem',
  DeleteItemCommand: 'dynamodb:DeleteItem',
  BatchGetItemCommand: 'dynamodb:BatchGetItem',
  BatchWriteItemCommand: 'dynamodb:BatchWriteItem',
  DescribeTableCommand: 'dynamodb:DescribeTable',
  // @aws-sdk/client-sqs
  SendMessageCommand: 'sqs:SendMessage',
  SendMessageBatchCommand: 'sqs:SendMessage',
  // @aws-sdk/client-secrets-manager
  GetSecretValueCommand: 'secretsmanager:GetSecretValue',
  // @aws-sdk/client-apigatewaymanagementapi
  PostToConnectionCommand: 'execute-api:ManageConnections',
  DeleteConnectionCommand: 'execute-api:ManageConnections',
  GetConnectionCommand: 'execute-api:ManageConnections',
  // @aws-sdk/client-sns
  PublishCommand: 'sns:Publish',
  PublishBatchCommand: 'sns:Publish',
  CreatePlatformEndpointCommand: 'sns:CreatePlatformEndpoint',
  GetEndpointAttributesCommand: 'sns:GetEndpointAttributes',
  SetEndpointAttributesCommand: 'sns:SetEndpointAttributes',
  DeleteEndpointCommand: 'sns:DeleteEndpoint',
};

/** SNS actions on platform applications and endpoints: granted only with mobile push configured. */
export const MOBILE_PUSH_ACTIONS: ReadonlySet<string> = new Set([
  'sns:CreatePlatformEndpoint',
  'sns:GetEndpointAttributes',
  'sns:SetEndpointAttributes',
  'sns:DeleteEndpoint',
]);
