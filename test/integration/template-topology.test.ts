import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { LambdaSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import {
  type LocalAddresses,
  outputsFromTemplate,
  rolePoliciesFromTemplate,
  TemplateTopologyError,
  type TemplateTopologyOptions,
  topologyFromTemplate,
} from '../../emulator/template-topology.ts';
import { ENV } from '../../functions/shared/environment.ts';
import { addLocalSource, FUNCTION_METADATA } from '../../infra/pushline.ts';
import { createApp, type PushlineStack } from '../../infra/pushline-stack.ts';
import { PUSHLINE_SOURCE_METADATA, synthesizeTemplate } from '../../local/pushline-template.ts';

/** Function sources are named by the metadata keys Pushline's construct sets. */
const SOURCES: TemplateTopologyOptions = { sourceMetadata: FUNCTION_METADATA };

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Local addresses that show which resource each value came from. */
const LOCAL: LocalAddresses = {
  callbackUrl: (api, stage) => `http://127.0.0.1:1111/${api}/${stage}`,
  webSocketUrl: (api, stage) => `ws://127.0.0.1:1111/${api}/${stage}`,
  topicArn: (name) => `arn:aws:sns:us-east-1:000000000000:${name}`,
  queueUrl: (name) => `http://127.0.0.1:2222/000000000000/${name}`,
};

interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}
type Json = { Resources: Record<string, Resource> };

const ofType = (template: Json, type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
/** The first logical id a value references (Ref or Fn::GetAtt). */
const firstRef = (value: unknown) =>
  JSON.stringify(value).match(/"(?:Ref|Fn::GetAtt)":\[?"(\w+)"/)?.[1] ?? '';
/** A function's local name: its source file's base name. */
const localName = (template: Json, id: string) => {
  const entry = String(template.Resources[id]?.Metadata?.['pushline:entry']);
  return basename(entry, extname(entry));
};

/** Builds the project's stack, lets a test add to it as a user would in CDK, and returns its template. */
async function templateWith(change: (stack: PushlineStack) => void): Promise<Json> {
  const outdir = await mkdtemp(join(tmpdir(), 'pushline-topology-'));
  try {
    const { app, stack } = createApp({
      context: {
        'aws:cdk:bundling-stacks': [],
        jwksUrl: 'https://issuer.example/jwks',
        issuer: 'https://issuer.example/',
      },
      outdir,
      nag: false,
      validation: false,
    });
    change(stack);
    return app.synth().getStackByName(stack.stackName).template as Json;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

describe('the local topology read from the synthesized template', () => {
  let secretTemplate: Json;
  let template: Json;
  before(async () => {
    secretTemplate = (await synthesizeTemplate()) as Json;
    template = (await synthesizeTemplate({
      context: { jwksUrl: 'https://issuer.example/jwks', issuer: 'https://issuer.example/' },
    })) as Json;
  });

  it('reads function sources with the metadata keys the construct sets', () => {
    assert.deepEqual(PUSHLINE_SOURCE_METADATA, FUNCTION_METADATA);
  });

  it("has exactly the template's routes, each calling the function its integration names", () => {
    const [api] = topologyFromTemplate(template, LOCAL, SOURCES).webSocketApis;
    assert.ok(api);
    const expected: Record<string, { function: string; returnResponse?: true }> = {};
    for (const [routeId, route] of ofType(template, 'AWS::ApiGatewayV2::Route')) {
      const integration = template.Resources[firstRef(route.Properties.Target)];
      const twoWay = ofType(template, 'AWS::ApiGatewayV2::RouteResponse').some(
        ([, response]) => firstRef(response.Properties.RouteId) === routeId,
      );
      expected[String(route.Properties.RouteKey)] = {
        function: localName(template, firstRef(integration?.Properties.IntegrationUri)),
        ...(twoWay ? { returnResponse: true as const } : {}),
      };
    }
    assert.ok(Object.keys(expected).length >= 3);
    assert.deepEqual(api.routes, expected);
    assert.equal(api.routeSelectionExpression, '$request.body.action');
  });

  it("serves the template's stage and runs its $connect authorizer with the template's identity sources", () => {
    const [api] = topologyFromTemplate(template, LOCAL, SOURCES).webSocketApis;
    const [[, stage] = []] = ofType(template, 'AWS::ApiGatewayV2::Stage');
    const [[, authorizer] = []] = ofType(template, 'AWS::ApiGatewayV2::Authorizer');
    assert.ok(api && stage && authorizer);
    assert.equal(api.stage, stage.Properties.StageName);
    assert.deepEqual(api.authorizer, {
      function: localName(template, firstRef(authorizer.Properties.AuthorizerUri)),
      identitySource: (authorizer.Properties.IdentitySource as string[] | undefined) ?? [],
    });
  });

  it('has every function of the template with its source, handler, timeout and environment variable names', () => {
    const functions = topologyFromTemplate(template, LOCAL, SOURCES).functions;
    const expected = ofType(template, 'AWS::Lambda::Function').map(([id, fn]) => ({
      name: localName(template, id),
      entry: fn.Metadata?.['pushline:entry'],
      handler: fn.Metadata?.['pushline:handler'],
      timeoutSeconds: fn.Properties.Timeout,
      variables: Object.keys((fn.Properties.Environment as { Variables: object }).Variables).sort(),
    }));
    assert.equal(expected.length, 6);
    assert.deepEqual(
      functions.map((fn) => ({
        name: fn.name,
        entry: fn.entry,
        handler: fn.handler,
        timeoutSeconds: fn.timeoutSeconds,
        variables: Object.keys(fn.environment ?? {}).sort(),
      })),
      expected,
    );
  });

  it('gives table, queue, topic and stage references their local names and addresses', () => {
    const topology = topologyFromTemplate(template, LOCAL, SOURCES);
    const deliver = topology.functions.find((fn) => fn.name === 'deliver');
    const [table] = topology.tables;
    const [api] = topology.webSocketApis;
    assert.ok(deliver && table && api);
    const rejected = topology.queues.find((queue) => queue.includes('Rejected'));
    assert.deepEqual(
      {
        table: deliver.environment?.[ENV.tableName],
        callback: deliver.environment?.[ENV.callbackUrl],
        rejected: deliver.environment?.[ENV.rejectedQueueUrl],
      },
      {
        table: table.name,
        callback: LOCAL.callbackUrl(api.name, api.stage),
        rejected: LOCAL.queueUrl(String(rejected)),
      },
    );
  });

  it("reads each function's role policies with the table, queue, topic and execute-api ARNs resolved", () => {
    const topology = topologyFromTemplate(template, LOCAL, SOURCES);
    const identities = rolePoliciesFromTemplate(template, { ...LOCAL, apiId: (api) => `id-${api}` }, SOURCES);
    assert.deepEqual(Object.keys(identities).sort(), topology.functions.map((fn) => fn.name).sort());
    const deliver = identities.deliver;
    const [table] = topology.tables;
    const [api] = topology.webSocketApis;
    assert.ok(deliver && table && api);
    assert.match(deliver.roleName, /^PushlineDeliverRole/);
    const granted = (action: string) =>
      deliver.statements
        .filter((statement) => statement.effect === 'Allow' && statement.actions?.includes(action))
        .flatMap((statement) => statement.resources ?? []);
    const tableArn = `arn:aws:dynamodb:us-east-1:000000000000:table/${table.name}`;
    assert.deepEqual(granted('dynamodb:Query'), [tableArn, `${tableArn}/index/*`]);
    assert.deepEqual(granted('execute-api:ManageConnections'), [
      `arn:aws:execute-api:us-east-1:000000000000:id-${api.name}/${api.stage}/*/@connections/*`,
    ]);
    const rejected = topology.queues.find((queue) => queue.includes('Rejected'));
    assert.ok(granted('sqs:SendMessage').includes(`arn:aws:sqs:us-east-1:000000000000:${rejected}`));
    assert.ok(granted('sns:Publish').every((arn) => arn.startsWith('arn:aws:sns:us-east-1:000000000000:')));
  });

  it("has the template's table keys, TTL attribute and indexes", () => {
    const [table] = topologyFromTemplate(template, LOCAL, SOURCES).tables;
    const [[tableId, cfn] = []] = ofType(template, 'AWS::DynamoDB::Table');
    assert.ok(table && tableId && cfn);
    const keys = cfn.Properties.KeySchema as { AttributeName: string; KeyType: string }[];
    const indexes = cfn.Properties.GlobalSecondaryIndexes as {
      IndexName: string;
      KeySchema: { AttributeName: string }[];
    }[];
    assert.deepEqual(table, {
      name: tableId,
      partitionKey: keys.find((key) => key.KeyType === 'HASH')?.AttributeName,
      sortKey: keys.find((key) => key.KeyType === 'RANGE')?.AttributeName,
      ttlAttribute: (cfn.Properties.TimeToLiveSpecification as { AttributeName: string }).AttributeName,
      globalSecondaryIndexes: indexes.map((index) => ({
        name: index.IndexName,
        partitionKey: index.KeySchema[0]?.AttributeName,
      })),
      localSecondaryIndexes: (
        cfn.Properties.LocalSecondaryIndexes as {
          IndexName: string;
          KeySchema: { AttributeName: string }[];
        }[]
      ).map((index) => ({ name: index.IndexName, sortKey: index.KeySchema[1]?.AttributeName })),
    });
  });

  it("subscribes the template's functions to their topics, with the on-failure destination as Lambda's, not the subscription's redrive queue", () => {
    const topology = topologyFromTemplate(template, LOCAL, SOURCES);
    const deadLetterOf = new Map(
      ofType(template, 'AWS::Lambda::EventInvokeConfig').map(([, config]) => [
        firstRef(config.Properties.FunctionName),
        firstRef(config.Properties.DestinationConfig),
      ]),
    );
    const topicIds = ofType(template, 'AWS::SNS::Topic').map(([id]) => id);
    const expected = topicIds.map((topicId) => ({
      name: topicId,
      subscriptions: ofType(template, 'AWS::SNS::Subscription')
        .filter(([, subscription]) => firstRef(subscription.Properties.TopicArn) === topicId)
        .map(([, subscription]) => ({
          function: localName(template, firstRef(subscription.Properties.Endpoint)),
          onFailureQueue: deadLetterOf.get(firstRef(subscription.Properties.Endpoint)),
        })),
    }));
    assert.equal(topicIds.length, 2, 'the publish topic and the internal fan-out topic');
    assert.deepEqual(
      expected.map((topic) => topic.subscriptions.length),
      [1, 1],
    );
    assert.deepEqual(topology.topics, expected);
    assert.deepEqual(
      [...topology.queues].sort(),
      ofType(template, 'AWS::SQS::Queue')
        .map(([id]) => id)
        .sort(),
    );
  });

  it("takes a function's retry attempts, maximum event age and dead-letter config from the template", () => {
    // The stack sets none of them; a copy of its template with them set, as CDK writes them.
    const changed = structuredClone(template);
    const [, config] = ofType(changed, 'AWS::Lambda::EventInvokeConfig')[0] ?? [];
    assert.ok(config, 'the stack configures asynchronous invocation');
    config.Properties.MaximumRetryAttempts = 1;
    config.Properties.MaximumEventAgeInSeconds = 120;
    const fnId = firstRef(config.Properties.FunctionName);
    const queueId = firstRef(config.Properties.DestinationConfig);
    const fn = changed.Resources[fnId];
    assert.ok(fn);
    fn.Properties.DeadLetterConfig = { TargetArn: { 'Fn::GetAtt': [queueId, 'Arn'] } };

    const subscription = topologyFromTemplate(changed, LOCAL, SOURCES)
      .topics.flatMap((topic) => topic.subscriptions)
      .find((sub) => sub.function === localName(changed, fnId));

    assert.deepEqual(subscription, {
      function: localName(changed, fnId),
      deadLetterQueue: queueId,
      onFailureQueue: queueId,
      maximumRetryAttempts: 1,
      maximumEventAgeSeconds: 120,
    });
  });

  it('publishes local values under the keys the deployed stack outputs', () => {
    const topology = topologyFromTemplate(template, LOCAL, SOURCES);
    const [api] = topology.webSocketApis;
    const outputs = outputsFromTemplate(template, LOCAL, SOURCES);
    assert.ok(api);
    assert.equal(outputs.WebSocketUrl, LOCAL.webSocketUrl?.(api.name, api.stage));
    assert.equal(outputs.TopicArn, LOCAL.topicArn(String(topology.topics[0]?.name)));
    assert.equal(outputs.TableName, topology.tables[0]?.name);
  });

  it('names the function and the variable when a value has no local equivalent', () => {
    assert.throws(
      () => topologyFromTemplate(secretTemplate, LOCAL, SOURCES),
      (error: unknown) =>
        error instanceof TemplateTopologyError &&
        error.code === 'UNRESOLVABLE_VALUE' &&
        error.message.includes('function authorizer') &&
        error.message.includes(ENV.jwtSecretArn),
    );
  });

  it('runs the authorizer with a local secret when the secret ARN is overridden', () => {
    const topology = topologyFromTemplate(secretTemplate, LOCAL, {
      ...SOURCES,
      environmentOverrides: { authorizer: { [ENV.jwtSecretArn]: null, [ENV.jwtSecret]: 'x'.repeat(32) } },
    });
    const authorizer = topology.functions.find((fn) => fn.name === 'authorizer');
    assert.equal(authorizer?.environment?.[ENV.jwtSecret], 'x'.repeat(32));
    assert.equal(authorizer?.environment?.[ENV.jwtSecretArn], undefined);
  });
});

describe('a route and a subscription added in CDK', () => {
  it('appear in the local topology with no other change', async () => {
    const entry = resolve(ROOT, 'test/infra/fixtures/echo-handler.ts');
    const template = await templateWith((stack) => {
      const echo = new NodejsFunction(stack, 'Echo', {
        entry,
        runtime: lambda.Runtime.NODEJS_22_X,
        projectRoot: ROOT,
        depsLockFilePath: resolve(ROOT, 'package-lock.json'),
      });
      addLocalSource(echo, entry);
      stack.pushline.api.addRoute('echo', {
        integration: new WebSocketLambdaIntegration('EchoIntegration', echo),
        returnResponse: true,
      });
      stack.pushline.topic.addSubscription(
        new LambdaSubscription(echo, {
          filterPolicy: { type: sns.SubscriptionFilter.stringFilter({ allowlist: ['audit'] }) },
        }),
      );
    });
    const topology = topologyFromTemplate(template, LOCAL, SOURCES);
    assert.deepEqual(topology.webSocketApis[0]?.routes.echo, {
      function: 'echo-handler',
      returnResponse: true,
    });
    assert.deepEqual(
      topology.functions.find((fn) => fn.name === 'echo-handler')?.entry,
      'test/infra/fixtures/echo-handler.ts',
    );
    const subscriptions = topology.topics[0]?.subscriptions ?? [];
    assert.deepEqual(
      subscriptions.find((subscription) => subscription.function === 'echo-handler'),
      { function: 'echo-handler', filterPolicy: { type: ['audit'] } },
    );
    assert.equal(subscriptions.length, 2);
  });

  it('are refused with the function named when it has no local source', async () => {
    const template = await templateWith((stack) => {
      const inline = new lambda.Function(stack, 'Inline', {
        runtime: lambda.Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async () => ({ statusCode: 200 });'),
      });
      stack.pushline.api.addRoute('inline', {
        integration: new WebSocketLambdaIntegration('InlineIntegration', inline),
      });
    });
    assert.throws(
      () => topologyFromTemplate(template, LOCAL, SOURCES),
      (error: unknown) =>
        error instanceof TemplateTopologyError &&
        error.code === 'UNSUPPORTED_TEMPLATE' &&
        /Function Inline\w+, used by route inline, has no "pushline:entry" metadata/.test(error.message),
    );
  });
});
