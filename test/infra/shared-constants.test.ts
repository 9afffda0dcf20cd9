import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RESUME_LOOKBACK_MS } from '../../functions/domain/inbox.ts';
import { ENV } from '../../functions/shared/environment.ts';
import { DELIVER_TIMEOUT_SECONDS } from '../../functions/shared/limits.ts';
import { TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { analyzeHandler, HANDLERS, type HandlerCode, type HandlerName } from './handler-code.ts';
import { logicalIdOf, resourcesOf, type Synthesized, synth } from './synth.ts';

/** Variables every function gets that are not Pushline configuration. */
const PLATFORM_VARIABLES = new Set([
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'NODE_OPTIONS',
]);
const AUTH_CHOICES = [ENV.jwksUrl, ENV.jwtSecretArn, ENV.jwtSecret];

function environmentOf(s: Synthesized, name: HandlerName): Record<string, unknown> {
  const id = logicalIdOf(s.stack, `Pushline/${name.charAt(0).toUpperCase()}${name.slice(1)}`);
  const fn = s.json.Resources[id];
  if (!fn) throw new Error(`No function ${name} in the template`);
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

describe('the template and the runtime code share their constants', () => {
  let secretMode: Synthesized;
  let jwksMode: Synthesized;
  const code = new Map<HandlerName, HandlerCode>();
  before(async () => {
    secretMode = synth();
    jwksMode = synth({ jwksUrl: 'https://issuer.example/jwks.json', issuer: 'https://issuer.example/' });
    for (const name of HANDLERS) code.set(name, await analyzeHandler(name));
  });

  it('gives the deliver function the timeout the inbox lease and resume look-back are sized on', () => {
    const id = logicalIdOf(secretMode.stack, 'Pushline/Deliver');
    assert.equal(secretMode.json.Resources[id]?.Properties.Timeout, DELIVER_TIMEOUT_SECONDS);
    assert.ok(RESUME_LOOKBACK_MS > DELIVER_TIMEOUT_SECONDS * 1000);
  });

  it('gives the table the key schema, TTL attribute and indexes of functions/shared/table-schema.ts', () => {
    const [[, table] = []] = resourcesOf(secretMode.json, 'AWS::DynamoDB::Table');
    assert.ok(table);
    assert.deepEqual(table.Properties.KeySchema, [
      { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
    ]);
    assert.deepEqual(table.Properties.TimeToLiveSpecification, {
      AttributeName: TABLE_SCHEMA.ttlAttribute,
      Enabled: true,
    });
    const indexes = table.Properties.GlobalSecondaryIndexes as { IndexName: string; KeySchema: unknown }[];
    assert.deepEqual(
      indexes.map((index) => [index.IndexName, index.KeySchema]),
      Object.values(TABLE_SCHEMA.indexes).map((index) => [
        index.name,
        [{ AttributeName: index.partitionKey, KeyType: 'HASH' }],
      ]),
    );
    const types = Object.fromEntries(
      (table.Properties.AttributeDefinitions as { AttributeName: string; AttributeType: string }[]).map(
        (a) => [a.AttributeName, a.AttributeType],
      ),
    );
    const localIndexes = table.Properties.LocalSecondaryIndexes as {
      IndexName: string;
      KeySchema: unknown;
    }[];
    assert.deepEqual(
      localIndexes.map((index) => [index.IndexName, index.KeySchema]),
      Object.values(TABLE_SCHEMA.localIndexes).map((index) => [
        index.name,
        [
          { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
      ]),
    );
    assert.deepEqual(types, {
      [TABLE_SCHEMA.partitionKey]: 'S',
      [TABLE_SCHEMA.sortKey]: 'S',
      [TABLE_SCHEMA.indexes.byConnection.partitionKey]: 'S',
      [TABLE_SCHEMA.localIndexes.bySeq.sortKey]: 'S',
      [TABLE_SCHEMA.localIndexes.unread.sortKey]: 'S',
    });
  });

  for (const name of HANDLERS) {
    it(`sets every variable ${name} requires, and only variables it reads`, () => {
      for (const s of [secretMode, jwksMode]) {
        const variables = Object.keys(environmentOf(s, name));
        const handler = code.get(name) as HandlerCode;
        for (const required of handler.requires)
          assert.ok(variables.includes(required), `${name} requires ${required}`);
        for (const variable of variables) {
          if (PLATFORM_VARIABLES.has(variable)) continue;
          assert.ok(Object.values(ENV).includes(variable as never), `${variable} is not a name from ENV`);
          assert.ok(handler.reads.has(variable), `${name} never reads ${variable}`);
        }
      }
    });
  }

  it('configures the authorizer with exactly one way to check tokens in either auth mode', () => {
    assert.deepEqual(
      AUTH_CHOICES.filter((variable) => variable in environmentOf(secretMode, 'authorizer')),
      [ENV.jwtSecretArn],
    );
    assert.deepEqual(
      AUTH_CHOICES.filter((variable) => variable in environmentOf(jwksMode, 'authorizer')),
      [ENV.jwksUrl],
    );
    assert.ok(ENV.jwtIssuer in environmentOf(jwksMode, 'authorizer'));
  });

  it('never spells an environment variable name or a table key in the CDK code', async () => {
    const infraDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'infra');
    const spelled = [
      ...Object.values(ENV),
      TABLE_SCHEMA.partitionKey,
      TABLE_SCHEMA.sortKey,
      TABLE_SCHEMA.ttlAttribute,
      TABLE_SCHEMA.indexes.byConnection.name,
      TABLE_SCHEMA.indexes.byConnection.partitionKey,
    ];
    for (const file of (await readdir(infraDir)).filter((entry) => entry.endsWith('.ts'))) {
      const source = await readFile(resolve(infraDir, file), 'utf8');
      for (const literal of spelled) {
        assert.doesNotMatch(source, new RegExp(`['"\`]${literal}['"\`]`), `${file} spells '${literal}'`);
      }
    }
  });
});
