/**
 * The REQUEST authorizer step of `$connect`: identity sources, and how API Gateway reads the
 * authorizer's result (IAM policy evaluation, principal, context).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthorizerSpec } from '../topology.ts';
import { GatewayConfigError } from './errors.ts';

/** Where an identity source is read from. */
interface IdentitySource {
  readonly from: 'header' | 'querystring';
  readonly name: string;
}

/** Parses `route.request.header.X` / `route.request.querystring.X`; anything else is a config error. */
export function parseIdentitySources(spec: AuthorizerSpec): readonly IdentitySource[] {
  return spec.identitySource.map((source) => {
    const match = /^route\.request\.(header|querystring)\.(.+)$/.exec(source);
    if (match === null) {
      throw new GatewayConfigError(
        `Unsupported identity source '${source}': use route.request.header.NAME or route.request.querystring.NAME.`,
      );
    }
    return { from: match[1] as IdentitySource['from'], name: match[2] as string };
  });
}

/** True when every identity source is present and non-empty (headers case-insensitively). */
export function hasIdentity(
  sources: readonly IdentitySource[],
  headers: IncomingHttpHeaders,
  search: URLSearchParams,
): boolean {
  return sources.every((source) => {
    const value =
      source.from === 'header'
        ? headers[source.name.toLowerCase()]
        : (search.getAll(source.name).at(-1) ?? undefined);
    const text = Array.isArray(value) ? value.join(',') : value;
    return text !== undefined && text.trim() !== '';
  });
}

/** API Gateway's quota on a Lambda authorizer's result (its JSON), not adjustable. */
export const MAX_AUTHORIZER_RESULT_BYTES = 8 * 1024;

/** What API Gateway makes of an authorizer's result. */
export type AuthorizerDecision =
  | {
      readonly effect: 'Allow';
      readonly principalId: string;
      readonly context: Record<string, string | null>;
    }
  | { readonly effect: 'Deny' }
  /** The result is not a valid authorizer response: API Gateway answers 500 (AuthorizerConfigurationException). */
  | { readonly effect: 'Malformed'; readonly reason: string };

/**
 * Evaluates the policy of an authorizer result against the `$connect` method ARN as IAM does: an
 * explicit Deny wins, then an Allow, otherwise the request is denied. Context values must be
 * strings, numbers or booleans and reach later events stringified; an object or array is a
 * configuration error, and so is a result over 8 KB (API Gateway's authorizer result quota).
 */
export function readAuthorizerResult(result: unknown, methodArn: string): AuthorizerDecision {
  if (typeof result !== 'object' || result === null) return malformed('the result is not an object');
  const bytes = Buffer.byteLength(JSON.stringify(result));
  if (bytes > MAX_AUTHORIZER_RESULT_BYTES) {
    return malformed(`the result is ${bytes} bytes, over the ${MAX_AUTHORIZER_RESULT_BYTES}-byte limit`);
  }
  const { principalId, policyDocument, context } = result as Record<string, unknown>;
  if (typeof principalId !== 'string' && typeof principalId !== 'number') {
    return malformed('principalId is missing');
  }
  const statements = (policyDocument as { Statement?: unknown } | undefined)?.Statement;
  const list = Array.isArray(statements) ? statements : statements === undefined ? undefined : [statements];
  if (list === undefined || list.length === 0) return malformed('policyDocument.Statement is missing');

  let allowed = false;
  for (const statement of list) {
    if (typeof statement !== 'object' || statement === null) return malformed('a statement is not an object');
    const { Effect, Action, Resource } = statement as Record<string, unknown>;
    if (Effect !== 'Allow' && Effect !== 'Deny')
      return malformed(`statement Effect '${String(Effect)}' is invalid`);
    const actions = toStringList(Action);
    const resources = toStringList(Resource);
    if (actions === undefined || resources === undefined)
      return malformed('a statement lacks Action or Resource');
    const applies =
      actions.some((action) => globMatch(action.toLowerCase(), 'execute-api:invoke')) &&
      resources.some((resource) => globMatch(resource, methodArn));
    if (!applies) continue;
    if (Effect === 'Deny') return { effect: 'Deny' };
    allowed = true;
  }
  if (!allowed) return { effect: 'Deny' };

  const stringified: Record<string, string | null> = {};
  if (context !== undefined && context !== null) {
    if (typeof context !== 'object' || Array.isArray(context)) return malformed('context is not an object');
    for (const [key, value] of Object.entries(context)) {
      if (value === null) stringified[key] = null;
      else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        stringified[key] = String(value);
      } else if (value !== undefined) return malformed(`context.${key} is not a string, number or boolean`);
    }
  }
  return { effect: 'Allow', principalId: String(principalId), context: stringified };
}

function malformed(reason: string): AuthorizerDecision {
  return { effect: 'Malformed', reason };
}

function toStringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string'))
    return value;
  return undefined;
}

/** IAM wildcard match: `*` any run of characters, `?` one character. */
function globMatch(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(value);
}
