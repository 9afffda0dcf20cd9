/**
 * Builds the local runtime's {@link Topology} from a synthesized CloudFormation template, so that the
 * CDK code is the single description of the system: a route, function, subscription or table added
 * there runs locally with no other change.
 */
import { basename, extname, resolve as resolvePath } from 'node:path';
import {
  type AuthorizerSpec,
  type FunctionSpec,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type RouteSpec,
  type SubscriptionSpec,
  type TableSpec,
  type TopicSpec,
  type Topology,
  type WebSocketApiSpec,
} from './topology.ts';

/** Where the local services answer; the template only names resources, this gives them addresses. */
export interface LocalAddresses {
  /** Management API endpoint (`…/{stage}`) of a WebSocket API, named by its logical id. */
  callbackUrl(apiName: string, stage: string): string;
  /** URL clients connect to. @default - a template value needing it is an error */
  webSocketUrl?(apiName: string, stage: string): string;
  /** ARN of a local topic. */
  topicArn(topicName: string): string;
  /** URL of a local queue. */
  queueUrl(queueName: string): string;
}

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

/** A template the local runtime cannot run as is; the message names the resource and what to change. */
export class TemplateTopologyError extends Error {
  override readonly name = 'TemplateTopologyError';
  constructor(
    readonly code: 'UNRESOLVABLE_VALUE' | 'UNSUPPORTED_TEMPLATE',
    message: string,
  ) {
    super(message);
  }
}

/** The parts of a CloudFormation template read here. */
interface CfnTemplate {
  readonly Resources?: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { readonly Value?: unknown }>;
  readonly Parameters?: Record<string, { readonly Default?: unknown }>;
}

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
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
      const value = reader.resolveString(output.Value, `output ${key}`);
      if (value !== undefined) outputs[key] = value;
    } catch (error) {
      if (!(error instanceof TemplateTopologyError)) throw error;
    }
  }
  return outputs;
}

/** Marks a WebSocket API id inside a string until the whole value is known (see `finish`). */
const MARK = '\u0001';

class TemplateReader {
  private readonly resources: Record<string, CfnResource>;
  private readonly functionNames = new Map<string, string>();
  private readonly apiMarks: string[] = [];

  constructor(
    private readonly template: CfnTemplate,
    private readonly local: LocalAddresses,
    private readonly options: TemplateTopologyOptions,
  ) {
    this.resources = template.Resources ?? {};
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
      const reserved = props.ReservedConcurrentExecutions;
      specs.push({
        name,
        entry: this.options.projectRoot ? resolvePath(this.options.projectRoot, entry) : entry,
        ...(typeof handler === 'string' ? { handler } : {}),
        environment: this.environment(name, props),
        ...(typeof timeout === 'number' ? { timeoutSeconds: timeout } : {}),
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
        const integrationId = this.referencedIds(props.Target).find(
          (id) => this.resources[id]?.Type === 'AWS::ApiGatewayV2::Integration',
        );
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
        if (props.Protocol !== 'lambda' || !this.referencedIds(props.TopicArn).includes(topicId)) continue;
        subscriptions.push(this.subscription(props, `subscription ${subscriptionId}`));
      }
      topics.push({ name: this.physicalName(topicId, 'TopicName'), subscriptions });
    }
    return topics;
  }

  queueNames(): string[] {
    return this.ofType('AWS::SQS::Queue').map(([id]) => this.physicalName(id, 'QueueName'));
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
        return {
          name: this.physicalName(id, 'TableName'),
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
        };
      });
  }

  /** Resolves a template value to a string with local names; `undefined` for `AWS::NoValue`. */
  resolveString(value: unknown, where: string): string | undefined {
    const raw = this.resolve(value, where);
    return raw === undefined ? undefined : this.finish(raw, where);
  }

  private environment(name: string, props: Record<string, unknown>): Record<string, string> {
    const variables = ((props.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}) as Record<string, unknown>;
    const overrides = this.options.environmentOverrides?.[name] ?? {};
    const environment: Record<string, string> = {};
    for (const [key, value] of Object.entries({ ...variables, ...overrides })) {
      if (value === null) continue;
      const resolved = this.resolveString(value, `function ${name}, environment variable ${key}`);
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
    const authorizerId = this.referencedIds(route.AuthorizerId).find(
      (id) => this.resources[id]?.Type === 'AWS::ApiGatewayV2::Authorizer',
    );
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
    const deadLetterQueue = this.deadLetterQueueOf(fnId, props);
    return {
      function: this.functionName(fnId, where),
      ...(filterPolicy ? { filterPolicy } : {}),
      ...(deadLetterQueue ? { deadLetterQueue } : {}),
    };
  }

  /**
   * Where events that still fail after Lambda's asynchronous retries go: the function's on-failure
   * destination, else its dead-letter config, else the subscription's redrive queue.
   */
  private deadLetterQueueOf(fnId: string, subscription: Record<string, unknown>): string | undefined {
    const candidates: unknown[] = [];
    for (const [, config] of this.ofType('AWS::Lambda::EventInvokeConfig')) {
      if (this.referencedIds(config.Properties?.FunctionName).includes(fnId)) {
        candidates.push(
          (config.Properties?.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)
            ?.OnFailure?.Destination,
        );
      }
    }
    candidates.push(
      (this.resources[fnId]?.Properties?.DeadLetterConfig as { TargetArn?: unknown } | undefined)?.TargetArn,
    );
    candidates.push(
      (subscription.RedrivePolicy as { deadLetterTargetArn?: unknown } | undefined)?.deadLetterTargetArn,
    );
    for (const candidate of candidates) {
      const queueId = this.referencedIds(candidate).find(
        (id) => this.resources[id]?.Type === 'AWS::SQS::Queue',
      );
      if (queueId !== undefined) return this.physicalName(queueId, 'QueueName');
    }
    return undefined;
  }

  /** The local name of the function a value (an integration or authorizer URI, an endpoint) points at. */
  private functionIn(value: unknown, where: string): string {
    return this.functionName(this.lambdaId(value, where), where);
  }

  private lambdaId(value: unknown, where: string): string {
    const id = this.referencedIds(value).find((ref) => this.resources[ref]?.Type === 'AWS::Lambda::Function');
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

  private physicalName(id: string, property: string): string {
    const name = this.resources[id]?.Properties?.[property];
    return typeof name === 'string' ? name : id;
  }

  private ofType(type: string): [string, CfnResource][] {
    return Object.entries(this.resources).filter(([, resource]) => resource.Type === type);
  }

  /** True when the resource's ApiId/RouteId/… properties reference `id`. */
  private refersTo(resource: CfnResource, id: string): boolean {
    const props = resource.Properties ?? {};
    return [props.ApiId, props.RouteId].some((value) => this.referencedIds(value).includes(id));
  }

  /** Logical ids a value references through Ref, Fn::GetAtt or Fn::Sub, at any depth. */
  private referencedIds(value: unknown): string[] {
    const ids: string[] = [];
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) visit(item);
        return;
      }
      if (typeof node !== 'object' || node === null) return;
      for (const [key, inner] of Object.entries(node)) {
        if (key === 'Ref' && typeof inner === 'string') ids.push(inner);
        else if (key === 'Fn::GetAtt') ids.push(getAttParts(inner)[0]);
        else if (key === 'Fn::Sub') {
          const text = Array.isArray(inner) ? inner[0] : inner;
          if (typeof text === 'string')
            for (const match of text.matchAll(/\$\{([^!}][^}.]*)/g)) ids.push(match[1] as string);
          visit(inner);
        } else visit(inner);
      }
    };
    visit(value);
    return ids;
  }

  private resolve(value: unknown, where: string): string | undefined {
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw unresolvable(where, value);
    const entries = Object.entries(value);
    const [key, arg] = entries[0] ?? [];
    if (entries.length !== 1 || key === undefined) throw unresolvable(where, value);
    switch (key) {
      case 'Ref':
        return this.ref(String(arg), where, value);
      case 'Fn::GetAtt': {
        const [id, attribute] = getAttParts(arg);
        return this.getAtt(id, attribute, where, value);
      }
      case 'Fn::Join': {
        const [separator, list] = arg as [string, unknown];
        return this.resolveList(list, where)
          .filter((part): part is string => part !== undefined)
          .join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [unknown, unknown];
        const selected = this.resolveList(list, where)[Number(this.resolve(index, where))];
        if (selected === undefined) throw unresolvable(where, value);
        return selected;
      }
      case 'Fn::Sub':
        return this.sub(arg, where);
      default:
        throw unresolvable(where, value);
    }
  }

  private resolveList(value: unknown, where: string): (string | undefined)[] {
    if (Array.isArray(value)) return value.map((item) => this.resolve(item, where));
    const split = (value as { 'Fn::Split'?: [string, unknown] } | null)?.['Fn::Split'];
    if (split) return (this.resolve(split[1], where) ?? '').split(split[0]);
    throw unresolvable(where, value);
  }

  private sub(arg: unknown, where: string): string {
    const [text, variables] = Array.isArray(arg)
      ? (arg as [string, Record<string, unknown>?])
      : [arg as string, undefined];
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_match, literal: string, name: string) => {
      if (literal) return `\${${name}}`;
      if (variables && name in variables) return this.resolve(variables[name], where) ?? '';
      const [id, attribute] = name.split(/\.(.*)/s) as [string, string | undefined];
      return (attribute ? this.getAtt(id, attribute, where, name) : this.ref(id, where, name)) ?? '';
    });
  }

  private ref(id: string, where: string, expression: unknown): string | undefined {
    switch (id) {
      case 'AWS::Region':
        return LOCAL_REGION;
      case 'AWS::AccountId':
        return LOCAL_ACCOUNT;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.options.stackName ?? 'local';
      case 'AWS::NoValue':
        return undefined;
    }
    const parameter = this.template.Parameters?.[id];
    if (parameter !== undefined) {
      if (parameter.Default === undefined)
        throw unresolvable(where, expression, `parameter ${id} has no default`);
      return String(parameter.Default);
    }
    const resource = this.resources[id];
    switch (resource?.Type) {
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable':
        return this.physicalName(id, 'TableName');
      case 'AWS::SNS::Topic':
        return this.local.topicArn(this.physicalName(id, 'TopicName'));
      case 'AWS::SQS::Queue':
        return this.local.queueUrl(this.physicalName(id, 'QueueName'));
      case 'AWS::Lambda::Function':
        return this.functionName(id);
      case 'AWS::ApiGatewayV2::Api':
        return this.apiMark(id);
      case 'AWS::ApiGatewayV2::Stage': {
        const stage = resource.Properties?.StageName;
        if (typeof stage === 'string') return stage;
      }
    }
    throw unresolvable(
      where,
      expression,
      resource ? `a ${resource.Type} has no local equivalent` : undefined,
    );
  }

  private getAtt(id: string, attribute: string, where: string, expression: unknown): string {
    const resource = this.resources[id];
    const arn = (service: string, resourcePart: string) =>
      `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${resourcePart}`;
    switch (`${resource?.Type}.${attribute}`) {
      case 'AWS::DynamoDB::Table.Arn':
      case 'AWS::DynamoDB::GlobalTable.Arn':
        return arn('dynamodb', `table/${this.physicalName(id, 'TableName')}`);
      case 'AWS::SNS::Topic.TopicArn':
        return this.local.topicArn(this.physicalName(id, 'TopicName'));
      case 'AWS::SNS::Topic.TopicName':
        return this.physicalName(id, 'TopicName');
      case 'AWS::SQS::Queue.Arn':
        return arn('sqs', this.physicalName(id, 'QueueName'));
      case 'AWS::SQS::Queue.QueueName':
        return this.physicalName(id, 'QueueName');
      case 'AWS::SQS::Queue.QueueUrl':
        return this.local.queueUrl(this.physicalName(id, 'QueueName'));
      case 'AWS::Lambda::Function.Arn':
        return arn('lambda', `function:${this.functionName(id)}`);
      case 'AWS::ApiGatewayV2::Api.ApiId':
        return this.apiMark(id);
      case 'AWS::ApiGatewayV2::Api.ApiEndpoint':
        return `wss://${this.apiMark(id)}.execute-api.${LOCAL_REGION}.amazonaws.com`;
    }
    throw unresolvable(
      where,
      expression,
      resource ? `${resource.Type}.${attribute} has no local equivalent` : undefined,
    );
  }

  private apiMark(id: string): string {
    let index = this.apiMarks.indexOf(id);
    if (index < 0) index = this.apiMarks.push(id) - 1;
    return `${MARK}${index}${MARK}`;
  }

  /** Turns `https://{api}.execute-api…/{stage}` (or `wss://`) into the local runtime's address. */
  private finish(value: string, where: string): string {
    if (!value.includes(MARK)) return value;
    const match = new RegExp(`^(https|wss)://${MARK}(\\d+)${MARK}\\.execute-api\\.[^/]+/([^/]+)/?$`).exec(
      value,
    );
    const api = match ? this.apiMarks[Number(match[2])] : undefined;
    if (match && api !== undefined) {
      const stage = match[3] as string;
      if (match[1] === 'https') return this.local.callbackUrl(api, stage);
      if (this.local.webSocketUrl) return this.local.webSocketUrl(api, stage);
    }
    throw new TemplateTopologyError(
      'UNRESOLVABLE_VALUE',
      `${where}: a WebSocket API id is used outside a stage URL (${value.replaceAll(MARK, '')}); only the stage's callback or WebSocket URL has a local equivalent.`,
    );
  }
}

function getAttParts(value: unknown): [string, string] {
  if (typeof value === 'string') {
    const [id, attribute] = value.split(/\.(.*)/s);
    return [id ?? '', attribute ?? ''];
  }
  const [id, attribute] = value as [string, string];
  return [id, attribute];
}

function unsupported(message: string): TemplateTopologyError {
  return new TemplateTopologyError('UNSUPPORTED_TEMPLATE', message);
}

function unresolvable(where: string, expression: unknown, reason?: string): TemplateTopologyError {
  return new TemplateTopologyError(
    'UNRESOLVABLE_VALUE',
    `${where}: cannot give ${JSON.stringify(expression)} a local value${reason ? ` (${reason})` : ''}. ` +
      'Set it with environmentOverrides, or use a resource the local runtime provides (table, topic, queue, WebSocket stage).',
  );
}
