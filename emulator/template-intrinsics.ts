/**
 * CloudFormation's intrinsic functions (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::Sub)
 * and pseudo parameters, resolved to the local runtime's names and addresses. template-topology.ts
 * builds the topology on top of these values.
 */
import { LOCAL_ACCOUNT, LOCAL_REGION } from './topology.ts';

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
  /**
   * Id of a WebSocket API outside its stage URLs, e.g. in an `execute-api` ARN of a policy.
   * @default - such a value is an error
   */
  apiId?(apiName: string): string;
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
export interface CfnTemplate {
  readonly Resources?: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { readonly Value?: unknown }>;
  readonly Parameters?: Record<string, { readonly Default?: unknown }>;
}

/** One resource of a template. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

/** Marks a WebSocket API id inside a string until the whole value is known (see `finish`). */
const MARK = '\u0001';

/** How {@link TemplateValues} names what it cannot name from the template alone. */
export interface TemplateValuesOptions {
  /** Value of `AWS::StackName`. @default 'local' */
  readonly stackName?: string;
  /** Local name of a function resource, by logical id. */
  readonly functionName: (id: string) => string;
}

/** Resolves the values of one template (references, intrinsic functions) to local strings. */
export class TemplateValues {
  private readonly resources: Record<string, CfnResource>;
  private readonly apiMarks: string[] = [];
  private readonly stackName: string | undefined;
  private readonly functionName: (id: string) => string;

  constructor(
    private readonly template: CfnTemplate,
    private readonly local: LocalAddresses,
    options: TemplateValuesOptions,
  ) {
    this.resources = template.Resources ?? {};
    this.stackName = options.stackName;
    this.functionName = options.functionName;
  }

  /** Resolves a template value to a string with local names; `undefined` for `AWS::NoValue`. */
  resolveString(value: unknown, where: string): string | undefined {
    const raw = this.resolve(value, where);
    return raw === undefined ? undefined : this.finish(raw, where);
  }

  /** The resource's literal physical name (e.g. `TableName`), else its logical id. */
  physicalName(id: string, property: string): string {
    const name = this.resources[id]?.Properties?.[property];
    return typeof name === 'string' ? name : id;
  }
  /** Logical ids a value references through Ref, Fn::GetAtt or Fn::Sub, at any depth. */
  referencedIds(value: unknown): string[] {
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
        return this.stackName ?? 'local';
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
    const apiId = this.local.apiId;
    if (!match && apiId !== undefined) {
      return value.replace(new RegExp(`${MARK}(\\d+)${MARK}`, 'g'), (_mark, index: string) =>
        apiId(this.apiMarks[Number(index)] ?? ''),
      );
    }
    throw new TemplateTopologyError(
      'UNRESOLVABLE_VALUE',
      `${where}: a WebSocket API id is used outside a stage URL (${value.replaceAll(MARK, '')}); only the stage's callback or WebSocket URL has a local equivalent.`,
    );
  }
}

/** The logical id and attribute of an `Fn::GetAtt` (`"Id.Attr"` or `["Id", "Attr"]`). */
export function getAttParts(value: unknown): [string, string] {
  if (typeof value === 'string') {
    const [id, attribute] = value.split(/\.(.*)/s);
    return [id ?? '', attribute ?? ''];
  }
  const [id, attribute] = value as [string, string];
  return [id, attribute];
}
function unresolvable(where: string, expression: unknown, reason?: string): TemplateTopologyError {
  return new TemplateTopologyError(
    'UNRESOLVABLE_VALUE',
    `${where}: cannot give ${JSON.stringify(expression)} a local value${reason ? ` (${reason})` : ''}. ` +
      'Set it with environmentOverrides, or use a resource the local runtime provides (table, topic, queue, WebSocket stage).',
  );
}
