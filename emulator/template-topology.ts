/**
 * Builds the local runtime's {@link Topology} from a synthesized CloudFormation template, so that the
 * CDK code is the single description of the system: a route, function, subscription or table added
 * there runs locally with no other change.
 */
import { basename, extname, resolve as resolvePath } from 'node:path';
import type { CallerIdentity, PolicyStatement } from './access-policy.ts';
import {
  type CfnResource,
  type CfnTemplate,
  type LocalAddresses,
  TemplateTopologyError,
  TemplateValues,
} from './template-intrinsics.ts';
import type {
  AsyncInvokeConfig,
  AuthorizerSpec,
  FunctionSpec,
  RouteSpec,
  SubscriptionSpec,
  TableSpec,
  TopicSpec,
  Topology,
  WebSocketApiSpec,
} from './topology.ts';

export { type LocalAddresses, TemplateTopologyError } from './template-intrinsics.ts';

/**
 * Metadata keys a function resource carries so the local runtime can run its source; the template
 * itself only names a bundled asset. The app's CDK code decides the keys and sets them.
 */
export interface SourceMetadata {
  /** Key whose value is the path of the function's source module. */
  readonly entry: string;
  /** Key whose value is the exported handler's name. @default - the runtime's default, `handler` */
  readonly handler?: string;
}

/** Options of {@link topologyFromTemplate}. */
export interface TemplateTopologyOptions {
  /** Where each function's source is named; functions without the entry key do not run locally. */
  readonly sourceMetadata: SourceMetadata;
  /**
   * Environment changes per function name, applied before resolution: a string replaces or adds a
   * variable, `null` removes it. For values with no local equivalent, e.g. a Secrets Manager ARN.
   */
  readonly environmentOverrides?: Readonly<Record<string, Readonly<Record<string, string | null>>>>;
  /** Makes function entries absolute. @default - entries stay relative to the working directory */
  readonly projectRoot?: string;
  /** Value of `AWS::StackName`. @default 'local' */
  readonly stackName?: string;
}

const TABLE_TYPES = new Set(['AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable']);

/** Reads the topology the local runtime brings up from a synthesized template. */
export function topologyFromTemplate(
  template: object,
  local: LocalAddresses,
  options: TemplateTopologyOptions,
): Topology {
  const reader = new TemplateReader(template as CfnTemplate, local, options);
  return {
    functions: reader.functions(),
    webSocketApis: reader.webSocketApis(),
    topics: reader.topics(),
    queues: reader.queueNames(),
    tables: reader.tables(),
  };
}

/**
 * The template's outputs with local values (e.g. `WebSocketUrl`, `TopicArn`, `TableName`), so the
 * local runtime publishes the same keys a deployment does. Outputs with no local value are left out.
 */
export function outputsFromTemplate(
  template: object,
  local: LocalAddresses,
  options: TemplateTopologyOptions,
): Record<string, string> {
  const reader = new TemplateReader(template as CfnTemplate, local, options);
  const outputs: Record<string, string> = {};
  for (const [key, output] of Object.entries((template as CfnTemplate).Outputs ?? {})) {
    try {
      const value = reader.values.resolveString(output.Value, `output ${key}`);
      if (value !== undefined) outputs[key] = value;
    } catch (error) {
      if (!(error instanceof TemplateTopologyError)) throw error;
    }
  }
  return outputs;
}

/**
 * Each local function's execution role and the identity-based policies attached to it in the
 * template (the role's inline `Policies`, `AWS::IAM::Policy` and `AWS::IAM::ManagedPolicy`
 * resources naming the role or named by its `ManagedPolicyArns`), by function name, for strict IAM
 * (access-policy.ts). Resources resolve to the local ARNs the topology uses; a resource with no
 * local value (a log group, a secret) matches nothing. AWS managed policies (`arn:aws:iam::aws:…`)
 * are not in the template and grant nothing here. Give `local.apiId` so that `execute-api` ARNs
 * resolve.
 */
export function rolePoliciesFromTemplate(
  template: object,
  local: LocalAddresses,
  options: TemplateTopologyOptions,
): Record<string, CallerIdentity> {
  return new TemplateReader(template as CfnTemplate, local, options).rolePolicies();
}

class TemplateReader {
  private readonly resources: Record<string, CfnResource>;
  private readonly functionNames = new Map<string, string>();
  /** The template's values resolved to local names and addresses. */
  readonly values: TemplateValues;

  constructor(
    template: CfnTemplate,
    local: LocalAddresses,
    private readonly options: TemplateTopologyOptions,
  ) {
    this.resources = template.Resources ?? {};
    this.values = new TemplateValues(template, local, {
      stackName: options.stackName,
      functionName: (id) => this.functionName(id),
    });
    // Functions are named after their source file (`functions/deliver.ts` → `deliver`), unless two share one.
    const byBase = new Map<string, string[]>();
    for (const [id, resource] of this.ofType('AWS::Lambda::Function')) {
      const entry = resource.Metadata?.[this.options.sourceMetadata.entry];
      const base = typeof entry === 'string' ? basename(entry, extname(entry)) : id;
      byBase.set(base, [...(byBase.get(base) ?? []), id]);
    }
    for (const [base, ids] of byBase)
      for (const id of ids) this.functionNames.set(id, ids.length === 1 ? base : id);
  }

  functions(): FunctionSpec[] {
    const specs: FunctionSpec[] = [];
    for (const [id, resource] of this.ofType('AWS::Lambda::Function')) {
      const entry = resource.Metadata?.[this.options.sourceMetadata.entry];
      if (typeof entry !== 'string') continue;
      const name = this.functionName(id);
      const handlerKey = this.options.sourceMetadata.handler;
      const handler = handlerKey === undefined ? undefined : resource.Metadata?.[handlerKey];
      const props = resource.Properties ?? {};
      const timeout = props.Timeout;
      const memory = props.MemorySize;
      const reserved = props.ReservedConcurrentExecutions;
      specs.push({
        name,
        entry: this.options.projectRoot ? resolvePath(this.options.projectRoot, entry) : entry,
        ...(typeof handler === 'string' ? { handler } : {}),
        environment: this.environment(name, props),
        ...(typeof timeout === 'number' ? { timeoutSeconds: timeout } : {}),
        ...(typeof memory === 'number' ? { memorySizeMb: memory } : {}),
        ...(typeof reserved === 'number' && reserved > 0 ? { maxConcurrency: reserved } : {}),
      });
    }
    return specs;
  }

  webSocketApis(): WebSocketApiSpec[] {
    const apis: WebSocketApiSpec[] = [];
    for (const [apiId, api] of this.ofType('AWS::ApiGatewayV2::Api')) {
      if (api.Properties?.ProtocolType !== 'WEBSOCKET') continue;
      const stages = this.ofType('AWS::ApiGatewayV2::Stage').filter(([, stage]) =>
        this.refersTo(stage, apiId),
      );
      const [only, ...more] = stages;
      if (only === undefined || more.length > 0) {
        throw unsupported(
          `WebSocket API ${apiId} has ${stages.length} stages; the local runtime serves exactly one.`,
        );
      }
      const stageName = only[1].Properties?.StageName;
      if (typeof stageName !== 'string')
        throw unsupported(`The stage of WebSocket API ${apiId} has no literal StageName.`);

      const routes: Record<string, RouteSpec> = {};
      let authorizer: AuthorizerSpec | undefined;
      for (const [routeId, route] of this.ofType('AWS::ApiGatewayV2::Route')) {
        if (!this.refersTo(route, apiId)) continue;
        const props = route.Properties ?? {};
        const routeKey = props.RouteKey;
        if (typeof routeKey !== 'string') throw unsupported(`Route ${routeId} has no literal RouteKey.`);
        const integrationId = this.values
          .referencedIds(props.Target)
          .find((id) => this.resources[id]?.Type === 'AWS::ApiGatewayV2::Integration');
        if (integrationId === undefined)
          throw unsupported(`Route ${routeKey} of ${apiId} has no integration.`);
        const integration = this.resources[integrationId]?.Properties ?? {};
        if (integration.IntegrationType !== 'AWS_PROXY') {
          throw unsupported(
            `Route ${routeKey} of ${apiId} uses a ${String(integration.IntegrationType)} integration; only Lambda proxy integrations run locally.`,
          );
        }
        const fn = this.functionIn(integration.IntegrationUri, `route ${routeKey}`);
        const twoWay =
          typeof props.RouteResponseSelectionExpression === 'string' &&
          this.ofType('AWS::ApiGatewayV2::RouteResponse').some(([, response]) =>
            this.refersTo(response, routeId),
          );
        routes[routeKey] = { function: fn, ...(twoWay ? { returnResponse: true } : {}) };
        if (routeKey === '$connect') authorizer = this.authorizer(routeId, props);
      }
      const selection = api.Properties?.RouteSelectionExpression;
      apis.push({
        name: apiId,
        stage: stageName,
        ...(typeof selection === 'string' ? { routeSelectionExpression: selection } : {}),
        routes,
        ...(authorizer ? { authorizer } : {}),
      });
    }
    return apis;
  }

  topics(): TopicSpec[] {
    const topics: TopicSpec[] = [];
    for (const [topicId, topic] of this.ofType('AWS::SNS::Topic')) {
      const subscriptions: SubscriptionSpec[] = [];
      const inline = topic.Properties?.Subscription;
      for (const entry of Array.isArray(inline) ? (inline as Record<string, unknown>[]) : []) {
        if (entry.Protocol === 'lambda') subscriptions.push(this.subscription(entry, `topic ${topicId}`));
      }
      for (const [subscriptionId, subscription] of this.ofType('AWS::SNS::Subscription')) {
        const props = subscription.Properties ?? {};
        // Other protocols (sqs, email, https…) have no local counterpart and are left out.
        if (props.Protocol !== 'lambda' || !this.values.referencedIds(props.TopicArn).includes(topicId))
          continue;
        subscriptions.push(this.subscription(props, `subscription ${subscriptionId}`));
      }
      topics.push({ name: this.values.physicalName(topicId, 'TopicName'), subscriptions });
    }
    return topics;
  }

  queueNames(): string[] {
    return this.ofType('AWS::SQS::Queue').map(([id]) => this.values.physicalName(id, 'QueueName'));
  }

  tables(): TableSpec[] {
    return Object.entries(this.resources)
      .filter(([, resource]) => TABLE_TYPES.has(resource.Type))
      .map(([id, resource]) => {
        const props = resource.Properties ?? {};
        const types = new Map(
          (
            (props.AttributeDefinitions as { AttributeName: string; AttributeType: string }[] | undefined) ??
            []
          ).map((definition) => [definition.AttributeName, definition.AttributeType]),
        );
        const keys = (schema: unknown, what: string) => {
          const list = (schema as { AttributeName: string; KeyType: string }[] | undefined) ?? [];
          const hash = list.find((key) => key.KeyType === 'HASH')?.AttributeName;
          const range = list.find((key) => key.KeyType === 'RANGE')?.AttributeName;
          if (hash === undefined) throw unsupported(`${what} has no partition key.`);
          for (const key of [hash, range]) {
            if (key !== undefined && types.get(key) !== 'S') {
              throw unsupported(
                `${what}: key ${key} is not a string; the local tables support string keys only.`,
              );
            }
          }
          return { partitionKey: hash, ...(range !== undefined ? { sortKey: range } : {}) };
        };
        const ttl = props.TimeToLiveSpecification as
          | { AttributeName?: unknown; Enabled?: unknown }
          | undefined;
        const indexes =
          (props.GlobalSecondaryIndexes as { IndexName: string; KeySchema: unknown }[] | undefined) ?? [];
        const localIndexes =
          (props.LocalSecondaryIndexes as { IndexName: string; KeySchema: unknown }[] | undefined) ?? [];
        return {
          name: this.values.physicalName(id, 'TableName'),
          ...keys(props.KeySchema, `Table ${id}`),
          ...(ttl?.Enabled === true && typeof ttl.AttributeName === 'string'
            ? { ttlAttribute: ttl.AttributeName }
            : {}),
          ...(indexes.length > 0
            ? {
                globalSecondaryIndexes: indexes.map((index) => ({
                  name: index.IndexName,
                  ...keys(index.KeySchema, `Index ${index.IndexName} of table ${id}`),
                })),
              }
            : {}),
          ...(localIndexes.length > 0
            ? {
                localSecondaryIndexes: localIndexes.map((index) => {
                  const what = `Local index ${index.IndexName} of table ${id}`;
                  const { sortKey } = keys(index.KeySchema, what);
                  if (sortKey === undefined) throw unsupported(`${what} has no sort key.`);
                  return { name: index.IndexName, sortKey };
                }),
              }
            : {}),
        };
      });
  }

  rolePolicies(): Record<string, CallerIdentity> {
    const identities: Record<string, CallerIdentity> = {};
    for (const [id, resource] of this.ofType('AWS::Lambda::Function')) {
      if (typeof resource.Metadata?.[this.options.sourceMetadata.entry] !== 'string') continue;
      const name = this.functionName(id);
      const roleId = this.values
        .referencedIds(resource.Properties?.Role)
        .find((ref) => this.resources[ref]?.Type === 'AWS::IAM::Role');
      if (roleId === undefined) {
        // A role from outside the template: its policies are unknown, so nothing is granted.
        identities[name] = { roleName: name, sessionName: name, statements: [] };
        continue;
      }
      const role = this.resources[roleId]?.Properties ?? {};
      const documents: unknown[] = [];
      for (const inline of asList(role.Policies))
        documents.push((inline as Record<string, unknown>).PolicyDocument);
      const managed = new Set(this.values.referencedIds(role.ManagedPolicyArns));
      for (const [policyId, policy] of Object.entries(this.resources)) {
        if (policy.Type !== 'AWS::IAM::Policy' && policy.Type !== 'AWS::IAM::ManagedPolicy') continue;
        const props = policy.Properties ?? {};
        if (managed.has(policyId) || this.values.referencedIds(props.Roles).includes(roleId))
          documents.push(props.PolicyDocument);
      }
      identities[name] = {
        roleName: this.values.physicalName(roleId, 'RoleName'),
        sessionName: name,
        statements: documents.flatMap((document) => this.statements(document, `role ${roleId}`)),
      };
    }
    return identities;
  }

  private statements(document: unknown, where: string): PolicyStatement[] {
    const statements: PolicyStatement[] = [];
    for (const raw of asList((document as { Statement?: unknown } | undefined)?.Statement)) {
      const statement = raw as Record<string, unknown>;
      const effect = statement.Effect === 'Deny' ? 'Deny' : 'Allow';
      const strings = (value: unknown) =>
        asList(value).filter((item): item is string => typeof item === 'string');
      const resources = (value: unknown) =>
        asList(value).flatMap((item) => {
          try {
            const resolved = this.values.resolveString(item, `${where}, policy resource`);
            return resolved === undefined ? [] : [resolved];
          } catch (error) {
            if (error instanceof TemplateTopologyError) return [];
            throw error;
          }
        });
      statements.push({
        effect,
        ...('Action' in statement ? { actions: strings(statement.Action) } : {}),
        ...('NotAction' in statement ? { notActions: strings(statement.NotAction) } : {}),
        ...('Resource' in statement ? { resources: resources(statement.Resource) } : {}),
        ...('NotResource' in statement ? { notResources: resources(statement.NotResource) } : {}),
        ...(statement.Condition !== undefined ? { conditional: true } : {}),
      });
    }
    return statements;
  }

  private environment(name: string, props: Record<string, unknown>): Record<string, string> {
    const variables = ((props.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}) as Record<string, unknown>;
    const overrides = this.options.environmentOverrides?.[name] ?? {};
    const environment: Record<string, string> = {};
    for (const [key, value] of Object.entries({ ...variables, ...overrides })) {
      if (value === null) continue;
      const resolved = this.values.resolveString(value, `function ${name}, environment variable ${key}`);
      if (resolved !== undefined) environment[key] = resolved;
    }
    return environment;
  }

  private authorizer(routeId: string, route: Record<string, unknown>): AuthorizerSpec | undefined {
    const type = route.AuthorizationType;
    if (type === undefined || type === 'NONE') return undefined;
    if (type !== 'CUSTOM')
      throw unsupported(
        `Route $connect (${routeId}) uses ${String(type)} authorization; only Lambda authorizers run locally.`,
      );
    const authorizerId = this.values
      .referencedIds(route.AuthorizerId)
      .find((id) => this.resources[id]?.Type === 'AWS::ApiGatewayV2::Authorizer');
    if (authorizerId === undefined)
      throw unsupported(`Route $connect (${routeId}) names no authorizer of the template.`);
    const props = this.resources[authorizerId]?.Properties ?? {};
    if (props.AuthorizerType !== 'REQUEST')
      throw unsupported(`Authorizer ${authorizerId} is not a REQUEST authorizer.`);
    const sources = props.IdentitySource;
    const identitySource = sources === undefined ? [] : Array.isArray(sources) ? sources : [sources];
    for (const source of identitySource) {
      if (typeof source !== 'string')
        throw unsupported(`Authorizer ${authorizerId} has a non-literal identity source.`);
    }
    return {
      function: this.functionIn(props.AuthorizerUri, `authorizer ${authorizerId}`),
      identitySource: identitySource as string[],
    };
  }

  private subscription(props: Record<string, unknown>, where: string): SubscriptionSpec {
    const fnId = this.lambdaId(props.Endpoint, where);
    if (props.FilterPolicyScope === 'MessageBody') {
      throw unsupported(
        `${where} filters on the message body; the local topics filter on message attributes only.`,
      );
    }
    const rawPolicy = props.FilterPolicy;
    const filterPolicy =
      typeof rawPolicy === 'string'
        ? (JSON.parse(rawPolicy) as Record<string, unknown>)
        : (rawPolicy as Record<string, unknown> | undefined);
    return {
      function: this.functionName(fnId, where),
      ...(filterPolicy ? { filterPolicy } : {}),
      ...this.asyncInvokeConfigOf(fnId),
    };
  }

  /**
   * What Lambda does with the function's failed asynchronous invocations: its dead-letter config,
   * and its event invoke config (on-failure destination, retries, maximum event age). A
   * subscription's `RedrivePolicy` is SNS's own: on AWS it takes only messages SNS could not hand to
   * Lambda, which the local runtime never fails to do, so it is not read.
   */
  private asyncInvokeConfigOf(fnId: string): AsyncInvokeConfig {
    const queueOf = (value: unknown) => {
      const queueId = this.values
        .referencedIds(value)
        .find((id) => this.resources[id]?.Type === 'AWS::SQS::Queue');
      return queueId === undefined ? undefined : this.values.physicalName(queueId, 'QueueName');
    };
    const deadLetterQueue = queueOf(
      (this.resources[fnId]?.Properties?.DeadLetterConfig as { TargetArn?: unknown } | undefined)?.TargetArn,
    );
    const invokeConfig = this.ofType('AWS::Lambda::EventInvokeConfig')
      .map(([, resource]) => resource.Properties ?? {})
      .find((props) => this.values.referencedIds(props.FunctionName).includes(fnId));
    const onFailureQueue = queueOf(
      (invokeConfig?.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure
        ?.Destination,
    );
    const { MaximumRetryAttempts: retries, MaximumEventAgeInSeconds: age } = invokeConfig ?? {};
    return {
      ...(deadLetterQueue === undefined ? {} : { deadLetterQueue }),
      ...(onFailureQueue === undefined ? {} : { onFailureQueue }),
      ...(typeof retries === 'number' ? { maximumRetryAttempts: retries } : {}),
      ...(typeof age === 'number' ? { maximumEventAgeSeconds: age } : {}),
    };
  }

  /** The local name of the function a value (an integration or authorizer URI, an endpoint) points at. */
  private functionIn(value: unknown, where: string): string {
    return this.functionName(this.lambdaId(value, where), where);
  }

  private lambdaId(value: unknown, where: string): string {
    const id = this.values
      .referencedIds(value)
      .find((ref) => this.resources[ref]?.Type === 'AWS::Lambda::Function');
    if (id === undefined) throw unsupported(`${where} does not point at a Lambda function of the template.`);
    return id;
  }

  private functionName(id: string, usedBy?: string): string {
    const resource = this.resources[id];
    if (usedBy !== undefined && typeof resource?.Metadata?.[this.options.sourceMetadata.entry] !== 'string') {
      throw unsupported(
        `Function ${id}, used by ${usedBy}, has no "${this.options.sourceMetadata.entry}" metadata naming its source, so it cannot run locally.`,
      );
    }
    return this.functionNames.get(id) ?? id;
  }

  private ofType(type: string): [string, CfnResource][] {
    return Object.entries(this.resources).filter(([, resource]) => resource.Type === type);
  }

  /** True when the resource's ApiId/RouteId/… properties reference `id`. */
  private refersTo(resource: CfnResource, id: string): boolean {
    const props = resource.Properties ?? {};
    return [props.ApiId, props.RouteId].some((value) => this.values.referencedIds(value).includes(id));
  }
}

/** A policy field that is one value or a list of them. */
function asList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function unsupported(message: string): TemplateTopologyError {
  return new TemplateTopologyError('UNSUPPORTED_TEMPLATE', message);
}
