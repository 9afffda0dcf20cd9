/**
 * SNS mobile push for the local runtime: platform applications (APNs, FCM…), their platform
 * endpoints (one per device token), and Publish to an endpoint ARN, with AWS's checks, answers and
 * error codes. Nothing is sent to Apple or Google: each publish is recorded as the delivery SNS would
 * have handed the platform, and tests read the record (see docs/local-runtime.md).
 *
 * The SNS wire error lives here rather than in sns.ts so that both modules share it without an
 * import cycle; sns.ts re-exports it.
 */
import { randomUUID } from 'node:crypto';
import type { SnsAttribute } from './filter-policy.ts';
import { type QueryParams, xmlText } from './query-protocol.ts';

/** An SNS error: an awsQuery `Code`, which the SDK maps to its exception class (NotFound → NotFoundException). */
export class SnsError extends Error {
  override readonly name = 'SnsError';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** AWS's `InvalidParameter` (HTTP 400): the message always starts with "Invalid parameter: ". */
export function invalidParameter(message: string): SnsError {
  return new SnsError('InvalidParameter', `Invalid parameter: ${message}`);
}

/** Platforms SNS accepts in CreatePlatformApplication. */
const PLATFORMS = new Set([
  'ADM',
  'APNS',
  'APNS_SANDBOX',
  'APNS_VOIP',
  'APNS_VOIP_SANDBOX',
  'BAIDU',
  'GCM',
  'MACOS',
  'MACOS_SANDBOX',
  'MPNS',
  'WNS',
]);
/** Apple platforms: hexadecimal device tokens, returned in lowercase, and the `aps` payload. */
const APPLE_PLATFORMS = new Set([
  'APNS',
  'APNS_SANDBOX',
  'APNS_VOIP',
  'APNS_VOIP_SANDBOX',
  'MACOS',
  'MACOS_SANDBOX',
]);
/** Attributes AWS stores for an application but never returns (credentials). */
const SECRET_APPLICATION_ATTRIBUTES = new Set(['PlatformCredential', 'PlatformPrincipal']);
const APPLICATION_ATTRIBUTES = new Set([
  ...SECRET_APPLICATION_ATTRIBUTES,
  'EventEndpointCreated',
  'EventEndpointDeleted',
  'EventEndpointUpdated',
  'EventDeliveryFailure',
  'SuccessFeedbackRoleArn',
  'FailureFeedbackRoleArn',
  'SuccessFeedbackSampleRate',
  'ApplePlatformTeamID',
  'ApplePlatformBundleID',
]);
const ENDPOINT_ATTRIBUTES = new Set(['CustomUserData', 'Enabled', 'Token']);
const APPLICATION_NAME = /^[A-Za-z0-9_.-]{1,256}$/;
const APPLE_TOKEN = /^[0-9a-fA-F]{1,400}$/;
const MAX_TOKEN_BYTES = 8192;
/** "less than 2KB", as the API reference puts it. */
const MAX_CUSTOM_USER_DATA_BYTES = 2047;
const APPLICATIONS_PAGE = 15;
const ENDPOINTS_PAGE = 100;
/** Deliveries kept for tests; the oldest go first, so a long `npm start` session stays bounded. */
const MAX_RECORDED_DELIVERIES = 10_000;

/** The actions this module answers. */
export const MOBILE_ACTIONS: ReadonlySet<string> = new Set([
  'CreatePlatformApplication',
  'GetPlatformApplicationAttributes',
  'SetPlatformApplicationAttributes',
  'ListPlatformApplications',
  'DeletePlatformApplication',
  'CreatePlatformEndpoint',
  'GetEndpointAttributes',
  'SetEndpointAttributes',
  'ListEndpointsByPlatformApplication',
  'DeleteEndpoint',
]);

/** A message as Publish received it, already checked by the SNS emulator. */
export interface MobileMessage {
  readonly message: string;
  readonly structure?: string;
  readonly subject?: string;
  readonly attributes: Readonly<Record<string, SnsAttribute>>;
}

/** One push SNS would have handed APNs, FCM or another platform (recorded instead of sent). */
export interface MobileDelivery {
  readonly messageId: string;
  readonly endpointArn: string;
  readonly platformApplicationArn: string;
  /** The application's platform: `APNS`, `APNS_SANDBOX`, `GCM`… */
  readonly platform: string;
  /** The endpoint's device token when the message was accepted. */
  readonly token: string;
  /** The notification for the platform: its own entry of a MessageStructure=json message, else the text wrapped as SNS wraps it. */
  readonly payload: string;
  /** Where `payload` came from: the platform's key, the `default` key, or a plain (not json) message. */
  readonly source: 'platform' | 'default' | 'message';
  readonly subject?: string;
  /** The message attributes as published (e.g. `AWS.SNS.MOBILE.APNS.PUSH_TYPE`). */
  readonly messageAttributes: Readonly<Record<string, SnsAttribute>>;
  /** When SNS accepted the message (ISO-8601). */
  readonly timestamp: string;
}

/** Which recorded deliveries to return; every given field must match. */
export interface MobileDeliveryFilter {
  readonly endpointArn?: string;
  readonly platformApplicationArn?: string;
  readonly token?: string;
}

interface PlatformApplication {
  readonly arn: string;
  readonly platform: string;
  /** Every attribute given, credentials included (they are never returned). */
  readonly attributes: Map<string, string>;
  /** ARNs of its endpoints, in creation order (what ListEndpointsByPlatformApplication pages through). */
  readonly endpoints: Set<string>;
  /** Endpoint ARN by device token, for CreatePlatformEndpoint's idempotency. */
  readonly byToken: Map<string, string>;
}

/** A platform endpoint: one device token of one application. */
export interface PlatformEndpoint {
  readonly arn: string;
  readonly application: PlatformApplication;
  token: string;
  enabled: boolean;
  customUserData?: string;
}

/** Options of {@link SnsMobilePush}. */
export interface SnsMobilePushOptions {
  readonly region: string;
  readonly accountId: string;
}

function required(params: QueryParams, name: string): string {
  const value = params.get(name);
  if (value === undefined || value === '') {
    throw invalidParameter(`${name} Reason: no value for required parameter`);
  }
  return value;
}

/** A map parameter (`Name.entry.N.key` / `.value`), in request order. */
function attributeMap(params: QueryParams, name = 'Attributes'): Map<string, string> {
  const out = new Map<string, string>();
  for (const { key, prefix } of params.entries(name, 'key'))
    out.set(key, params.get(`${prefix}.value`) ?? '');
  return out;
}

function attributesXml(attributes: Iterable<[string, string]>): string {
  let entries = '';
  for (const [key, value] of attributes)
    entries += `<entry>${xmlText('key', key)}${xmlText('value', value)}</entry>`;
  return `<Attributes>${entries}</Attributes>`;
}

/** An SNS ARN's shape; AWS refuses others before looking anything up. */
function checkArn(name: string, arn: string): void {
  const parts = arn.split(':');
  if (parts.length < 6) {
    throw invalidParameter(`${name} Reason: An ARN must have at least 6 elements, not ${parts.length}`);
  }
  if (parts[0] !== 'arn' || parts[2] !== 'sns') throw invalidParameter(`${name} Reason: wrong vendor in ARN`);
}

function pageStart(params: QueryParams): number {
  const token = params.get('NextToken');
  if (token === undefined || token === '') return 0;
  const start = Number(token);
  if (!Number.isInteger(start) || start < 0)
    throw invalidParameter('NextToken Reason: the token is not valid');
  return start;
}

/** Platform applications, endpoints and recorded deliveries, with the awsQuery actions on them. */
export class SnsMobilePush {
  private readonly applications = new Map<string, PlatformApplication>();
  private readonly endpoints = new Map<string, PlatformEndpoint>();
  private readonly recorded: MobileDelivery[] = [];

  constructor(private readonly options: SnsMobilePushOptions) {}

  /** Whether an ARN names a platform endpoint (`…:endpoint/{platform}/{app}/{id}`), known or not. */
  isEndpointArn(arn: string): boolean {
    return arn.split(':')[5]?.startsWith('endpoint/') ?? false;
  }

  /** Answers one of {@link MOBILE_ACTIONS} with the inside of its `…Result` element (undefined: none). */
  dispatch(action: string, params: QueryParams): string | undefined {
    switch (action) {
      case 'CreatePlatformApplication':
        return xmlText('PlatformApplicationArn', this.createApplication(params));
      case 'GetPlatformApplicationAttributes':
        return attributesXml(this.visibleAttributes(this.application(params)));
      case 'SetPlatformApplicationAttributes': {
        const application = this.application(params);
        for (const [key, value] of this.applicationAttributes(params)) application.attributes.set(key, value);
        return undefined;
      }
      case 'ListPlatformApplications':
        return this.listApplications(params);
      case 'DeletePlatformApplication':
        this.deleteApplication(params);
        return undefined;
      case 'CreatePlatformEndpoint':
        return xmlText('EndpointArn', this.createEndpoint(params));
      case 'GetEndpointAttributes':
        return attributesXml(this.endpointAttributes(this.endpoint(params)));
      case 'SetEndpointAttributes':
        this.setEndpointAttributes(params);
        return undefined;
      case 'ListEndpointsByPlatformApplication':
        return this.listEndpoints(params);
      case 'DeleteEndpoint':
        this.deleteEndpoint(params);
        return undefined;
      default:
        throw new SnsError('InvalidAction', `The action ${action} is not valid for this endpoint.`);
    }
  }

  /**
   * The endpoint a Publish targets, checked before the message is (AWS answers EndpointDisabled
   * even for a message it would refuse).
   */
  publishTarget(endpointArn: string): PlatformEndpoint {
    const endpoint = this.endpoints.get(endpointArn);
    if (endpoint === undefined) throw new SnsError('NotFound', 'Endpoint does not exist', 404);
    if (!endpoint.enabled) throw new SnsError('EndpointDisabled', 'Endpoint is disabled');
    return endpoint;
  }

  /** Records what SNS would hand the endpoint's platform; returns the MessageId. */
  publish(endpoint: PlatformEndpoint, input: MobileMessage): string {
    const { platform } = endpoint.application;
    const { payload, source } = platformPayload(platform, input);
    const messageId = randomUUID();
    if (this.recorded.length >= MAX_RECORDED_DELIVERIES) this.recorded.shift();
    this.recorded.push(
      Object.freeze({
        messageId,
        endpointArn: endpoint.arn,
        platformApplicationArn: endpoint.application.arn,
        platform,
        token: endpoint.token,
        payload,
        source,
        ...(input.subject === undefined ? {} : { subject: input.subject }),
        messageAttributes: Object.freeze({ ...input.attributes }),
        timestamp: new Date().toISOString(),
      }),
    );
    return messageId;
  }

  /** Recorded deliveries, oldest first (at most the last 10,000). */
  deliveries(filter: MobileDeliveryFilter = {}): MobileDelivery[] {
    return this.recorded.filter(
      (d) =>
        (filter.endpointArn === undefined || d.endpointArn === filter.endpointArn) &&
        (filter.platformApplicationArn === undefined ||
          d.platformApplicationArn === filter.platformApplicationArn) &&
        (filter.token === undefined || d.token === filter.token),
    );
  }

  /** Forgets every recorded delivery. */
  clearDeliveries(): void {
    this.recorded.length = 0;
  }

  /** Sets Enabled=false, as SNS does when APNs or FCM reports the token invalid. */
  disableEndpoint(endpointArn: string): void {
    const endpoint = this.endpoints.get(endpointArn);
    if (endpoint === undefined) throw new SnsError('NotFound', 'Endpoint does not exist', 404);
    endpoint.enabled = false;
  }

  private applicationArn(platform: string, name: string): string {
    return `arn:aws:sns:${this.options.region}:${this.options.accountId}:app/${platform}/${name}`;
  }

  private application(params: QueryParams): PlatformApplication {
    const arn = required(params, 'PlatformApplicationArn');
    checkArn('PlatformApplicationArn', arn);
    const application = this.applications.get(arn);
    if (application === undefined) throw new SnsError('NotFound', 'PlatformApplication does not exist', 404);
    return application;
  }

  private endpoint(params: QueryParams): PlatformEndpoint {
    const arn = required(params, 'EndpointArn');
    checkArn('EndpointArn', arn);
    const endpoint = this.endpoints.get(arn);
    if (endpoint === undefined) throw new SnsError('NotFound', 'Endpoint does not exist', 404);
    return endpoint;
  }

  private applicationAttributes(params: QueryParams): Map<string, string> {
    const attributes = attributeMap(params);
    for (const [key, value] of attributes) {
      if (!APPLICATION_ATTRIBUTES.has(key))
        throw invalidParameter(`Attributes Reason: Invalid attribute name: ${key}`);
      if (key === 'SuccessFeedbackSampleRate') {
        const rate = Number(value);
        if (!Number.isInteger(rate) || rate < 0 || rate > 100) {
          throw invalidParameter(
            'Attributes Reason: SuccessFeedbackSampleRate must be an integer from 0 to 100',
          );
        }
      }
    }
    return attributes;
  }

  private createApplication(params: QueryParams): string {
    const name = required(params, 'Name');
    const platform = required(params, 'Platform');
    if (!APPLICATION_NAME.test(name)) {
      throw invalidParameter(
        'Name Reason: must be 1-256 ASCII letters, numbers, underscores, hyphens or periods',
      );
    }
    if (!PLATFORMS.has(platform)) {
      throw invalidParameter(
        `Platform Reason: ${platform} is not supported (one of ${[...PLATFORMS].join(', ')})`,
      );
    }
    const attributes = this.applicationAttributes(params);
    // Credentials are required (AWS also checks them with Apple or Google; see docs/local-runtime-aws.md).
    if (!attributes.get('PlatformCredential')) {
      throw invalidParameter(`Attributes Reason: PlatformCredential is required for ${platform}`);
    }
    if (platform !== 'GCM' && !attributes.get('PlatformPrincipal')) {
      throw invalidParameter(`Attributes Reason: PlatformPrincipal is required for ${platform}`);
    }
    const arn = this.applicationArn(platform, name);
    const existing = this.applications.get(arn);
    if (existing !== undefined) {
      for (const [key, value] of attributes) existing.attributes.set(key, value);
      return arn;
    }
    this.applications.set(arn, { arn, platform, attributes, endpoints: new Set(), byToken: new Map() });
    return arn;
  }

  /** What Get/ListPlatformApplication(s) return: never the credentials. */
  private visibleAttributes(application: PlatformApplication): [string, string][] {
    const visible: [string, string][] = [['Enabled', 'true']];
    for (const [key, value] of application.attributes) {
      if (!SECRET_APPLICATION_ATTRIBUTES.has(key)) visible.push([key, value]);
    }
    return visible;
  }

  private listApplications(params: QueryParams): string {
    const start = pageStart(params);
    const all = [...this.applications.values()];
    const members = all
      .slice(start, start + APPLICATIONS_PAGE)
      .map(
        (a) =>
          `<member>${xmlText('PlatformApplicationArn', a.arn)}${attributesXml(this.visibleAttributes(a))}</member>`,
      )
      .join('');
    const next =
      start + APPLICATIONS_PAGE < all.length ? xmlText('NextToken', start + APPLICATIONS_PAGE) : '';
    return `<PlatformApplications>${members}</PlatformApplications>${next}`;
  }

  private deleteApplication(params: QueryParams): void {
    const arn = required(params, 'PlatformApplicationArn');
    checkArn('PlatformApplicationArn', arn);
    const application = this.applications.get(arn);
    if (application === undefined) return; // idempotent, like every SNS delete
    for (const endpointArn of application.endpoints) this.endpoints.delete(endpointArn);
    this.applications.delete(arn);
  }

  private checkToken(platform: string, token: string): string {
    if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) {
      throw invalidParameter(`Token Reason: must be at most ${MAX_TOKEN_BYTES} bytes long in UTF-8 encoding`);
    }
    if (!APPLE_PLATFORMS.has(platform)) return token;
    if (!APPLE_TOKEN.test(token)) {
      throw invalidParameter(
        'Token Reason: iOS device tokens must be no more than 400 hexadecimal characters',
      );
    }
    return token.toLowerCase();
  }

  private checkEnabled(value: string): boolean {
    const lower = value.toLowerCase();
    if (lower !== 'true' && lower !== 'false') {
      throw invalidParameter('Attributes Reason: Enabled must be true or false');
    }
    return lower === 'true';
  }

  private checkCustomUserData(value: string): string {
    if (Buffer.byteLength(value) > MAX_CUSTOM_USER_DATA_BYTES) {
      throw invalidParameter('CustomUserData Reason: must be less than 2KB in UTF-8');
    }
    return value;
  }

  private endpointAttributeMap(params: QueryParams): Map<string, string> {
    const attributes = attributeMap(params);
    for (const key of attributes.keys()) {
      if (!ENDPOINT_ATTRIBUTES.has(key))
        throw invalidParameter(`Attributes Reason: Invalid attribute name: ${key}`);
    }
    return attributes;
  }

  private createEndpoint(params: QueryParams): string {
    const application = this.application(params);
    const token = this.checkToken(application.platform, required(params, 'Token'));
    const attributes = this.endpointAttributeMap(params);
    // The CustomUserData attribute wins over the parameter of the same name.
    const userData = attributes.get('CustomUserData') ?? params.get('CustomUserData');
    const customUserData = userData === undefined ? undefined : this.checkCustomUserData(userData);
    const enabledValue = attributes.get('Enabled');
    const enabled = enabledValue === undefined ? undefined : this.checkEnabled(enabledValue);
    if (
      attributes.has('Token') &&
      this.checkToken(application.platform, attributes.get('Token') ?? '') !== token
    ) {
      throw invalidParameter('Attributes Reason: the Token attribute differs from the Token parameter');
    }

    const existingArn = application.byToken.get(token);
    const existing = existingArn === undefined ? undefined : this.endpoints.get(existingArn);
    if (existing !== undefined) {
      // Idempotent when every attribute given matches; an attribute not given is not compared.
      const differs =
        (customUserData !== undefined && customUserData !== existing.customUserData) ||
        (enabled !== undefined && enabled !== existing.enabled);
      if (differs) {
        throw invalidParameter(
          `Token Reason: Endpoint ${existing.arn} already exists with the same Token, but different attributes.`,
        );
      }
      return existing.arn;
    }
    const appPart = application.arn.slice(application.arn.indexOf(':app/') + ':app/'.length);
    const arn = `arn:aws:sns:${this.options.region}:${this.options.accountId}:endpoint/${appPart}/${randomUUID()}`;
    this.endpoints.set(arn, {
      arn,
      application,
      token,
      enabled: enabled ?? true,
      ...(customUserData === undefined ? {} : { customUserData }),
    });
    application.endpoints.add(arn);
    application.byToken.set(token, arn);
    return arn;
  }

  private endpointAttributes(endpoint: PlatformEndpoint): [string, string][] {
    const attributes: [string, string][] = [];
    if (endpoint.customUserData !== undefined) attributes.push(['CustomUserData', endpoint.customUserData]);
    attributes.push(['Enabled', String(endpoint.enabled)], ['Token', endpoint.token]);
    return attributes;
  }

  private setEndpointAttributes(params: QueryParams): void {
    const endpoint = this.endpoint(params);
    const attributes = this.endpointAttributeMap(params);
    if (attributes.size === 0) throw invalidParameter('Attributes Reason: no value for required parameter');
    // Every value is checked before any is applied, so a refused request changes nothing.
    const userData = attributes.get('CustomUserData');
    const customUserData = userData === undefined ? undefined : this.checkCustomUserData(userData);
    const enabledValue = attributes.get('Enabled');
    const enabled = enabledValue === undefined ? undefined : this.checkEnabled(enabledValue);
    const tokenValue = attributes.get('Token');
    const token =
      tokenValue === undefined ? undefined : this.checkToken(endpoint.application.platform, tokenValue);
    if (token !== undefined && token.length === 0) throw invalidParameter('Token Reason: cannot be empty');

    if (customUserData !== undefined) endpoint.customUserData = customUserData;
    if (enabled !== undefined) endpoint.enabled = enabled;
    if (token !== undefined && token !== endpoint.token) {
      const { byToken } = endpoint.application;
      if (byToken.get(endpoint.token) === endpoint.arn) byToken.delete(endpoint.token);
      byToken.set(token, endpoint.arn);
      endpoint.token = token;
    }
  }

  private listEndpoints(params: QueryParams): string {
    const application = this.application(params);
    const start = pageStart(params);
    const arns = [...application.endpoints];
    const members = arns
      .slice(start, start + ENDPOINTS_PAGE)
      .flatMap((arn) => {
        const endpoint = this.endpoints.get(arn);
        return endpoint === undefined
          ? []
          : [
              `<member>${xmlText('EndpointArn', arn)}${attributesXml(this.endpointAttributes(endpoint))}</member>`,
            ];
      })
      .join('');
    const next = start + ENDPOINTS_PAGE < arns.length ? xmlText('NextToken', start + ENDPOINTS_PAGE) : '';
    return `<Endpoints>${members}</Endpoints>${next}`;
  }

  private deleteEndpoint(params: QueryParams): void {
    const arn = required(params, 'EndpointArn');
    checkArn('EndpointArn', arn);
    const endpoint = this.endpoints.get(arn);
    if (endpoint === undefined) return; // idempotent, as AWS answers
    const { byToken, endpoints } = endpoint.application;
    if (byToken.get(endpoint.token) === arn) byToken.delete(endpoint.token);
    endpoints.delete(arn);
    this.endpoints.delete(arn);
  }
}

/** The text SNS hands a platform when the message has no entry of its own for it. */
function wrapText(platform: string, text: string): string {
  if (APPLE_PLATFORMS.has(platform)) return JSON.stringify({ aps: { alert: text } });
  if (platform === 'GCM') return JSON.stringify({ data: { default: text } });
  return text;
}

/** Picks the platform's payload as SNS does: its own key of a json message, else `default`, else the text. */
function platformPayload(
  platform: string,
  input: MobileMessage,
): { payload: string; source: MobileDelivery['source'] } {
  if (input.structure !== 'json') return { payload: wrapText(platform, input.message), source: 'message' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(input.message);
  } catch {
    throw invalidParameter('Message Structure - JSON message body failed to parse');
  }
  const record =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  const own = record[platform];
  // The platform's entry must be a string (JSON text), as SNS reads it; an object does not count.
  if (typeof own === 'string') return { payload: own, source: 'platform' };
  if (typeof record.default === 'string')
    return { payload: wrapText(platform, record.default), source: 'default' };
  throw invalidParameter(`JSON must contain an entry for 'default' or '${platform}'.`);
}
