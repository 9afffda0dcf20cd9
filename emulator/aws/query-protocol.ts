/**
 * The awsQuery wire protocol: form-encoded `Action=…&Version=…` requests, XML responses.
 * The installed @aws-sdk/client-sns and the AWS CLI both speak it for SNS.
 */

/** Flat awsQuery parameters with accessors for its list (`.member.N`) and map (`.entry.N`) encodings. */
export class QueryParams {
  private readonly values = new Map<string, string>();
  private readonly prefixes = new Set<string>();

  constructor(params: URLSearchParams) {
    for (const [key, value] of params) {
      this.values.set(key, value);
      const parts = key.split('.');
      for (let i = 1; i <= parts.length; i++) this.prefixes.add(parts.slice(0, i).join('.'));
    }
  }

  /** The value of one parameter. */
  get(name: string): string | undefined {
    return this.values.get(name);
  }

  /** Whether any parameter is named `name` or nested under it. */
  has(name: string): boolean {
    return this.prefixes.has(name);
  }

  /** Prefixes of the items of a list (`Name.member.1`, `Name.member.2`, …), in order. */
  members(name: string, item = 'member'): string[] {
    return this.indexed(`${name}.${item}`);
  }

  /** A map encoded as `Name.entry.N.{keyName,valueName}`; nested values are returned as their prefix. */
  entries(name: string, keyName: string): { key: string; prefix: string }[] {
    const out: { key: string; prefix: string }[] = [];
    for (const prefix of this.indexed(`${name}.entry`)) {
      const key = this.get(`${prefix}.${keyName}`);
      if (key !== undefined) out.push({ key, prefix });
    }
    return out;
  }

  private indexed(base: string): string[] {
    const out: string[] = [];
    // Indexes start at 1 and are contiguous in what SDKs send; the bound keeps a hostile body cheap.
    for (let n = 1; n <= 10_000 && this.prefixes.has(`${base}.${n}`); n++) out.push(`${base}.${n}`);
    return out;
  }
}

// XML 1.0 forbids most control characters even when escaped; dropping them keeps the SDK's parser happy.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Escapes text for an XML element body or attribute. */
export function xmlEscape(text: string): string {
  return text
    .replace(XML_INVALID, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `<name>escaped text</name>`. */
export function xmlText(name: string, value: string | number | boolean): string {
  return `<${name}>${xmlEscape(String(value))}</${name}>`;
}

/** The success envelope: `<{Action}Response><{Action}Result>…</…Result><ResponseMetadata>…`. */
export function queryResponse(
  action: string,
  xmlns: string,
  resultXml: string | undefined,
  requestId: string,
): string {
  const result = resultXml === undefined ? '' : `<${action}Result>${resultXml}</${action}Result>`;
  return (
    `<?xml version="1.0"?>\n<${action}Response xmlns="${xmlns}">${result}` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>\n`
  );
}

/** The error envelope the SDK's awsQuery deserializer reads `Error.Code` from. */
export function queryErrorResponse(
  xmlns: string,
  fault: 'Sender' | 'Receiver',
  code: string,
  message: string,
  requestId: string,
): string {
  return (
    `<?xml version="1.0"?>\n<ErrorResponse xmlns="${xmlns}"><Error>${xmlText('Type', fault)}` +
    `${xmlText('Code', code)}${xmlText('Message', message)}</Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>\n`
  );
}
