/**
 * SNS subscription filter policies on message attributes (the default `MessageAttributes` scope).
 *
 * Supported, as SNS documents them: AND across keys, OR within a key's list, `$or`; exact string
 * and numeric values; `prefix`, `suffix`, `equals-ignore-case`; `anything-but` (a value, a list, or
 * `{ prefix }` / `{ suffix }`); `numeric` (`=`, `<`, `<=`, `>`, `>=`, one or two bounds); `exists`.
 * Attribute types String, Number, String.Array and Number.Array (an array matches when any element
 * does); Binary attributes are ignored, as SNS ignores them. Not supported: the `MessageBody` scope
 * and `cidr`: `validateFilterPolicy` rejects them so a topology never silently filters wrongly.
 */

/** A message attribute as SNS holds it: data type and value (base64 for Binary). */
export interface SnsAttribute {
  readonly type: string;
  readonly value: string;
}

/** A filter policy the local runtime cannot evaluate faithfully. */
export class FilterPolicyError extends Error {
  override readonly name = 'FilterPolicyError';
  readonly code = 'INVALID_FILTER_POLICY';
}

type Scalar = string | number | boolean | null;

const OPERATORS = new Set(['exists', 'prefix', 'suffix', 'equals-ignore-case', 'anything-but', 'numeric']);
const NUMERIC_OPERATORS = new Set(['=', '<', '<=', '>', '>=']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Throws `FilterPolicyError` when the policy uses something this evaluator does not implement. */
export function validateFilterPolicy(policy: unknown, path = 'filterPolicy'): void {
  if (!isRecord(policy)) throw new FilterPolicyError(`${path} must be a JSON object`);
  for (const [key, conditions] of Object.entries(policy)) {
    if (key === '$or') {
      if (!Array.isArray(conditions) || conditions.length < 2) {
        throw new FilterPolicyError(`${path}.$or must be a list of at least two policies`);
      }
      conditions.forEach((sub, i) => {
        validateFilterPolicy(sub, `${path}.$or[${i}]`);
      });
      continue;
    }
    if (!Array.isArray(conditions)) {
      throw new FilterPolicyError(
        `${path}.${key} must be a list of conditions (nested objects are the MessageBody scope, not emulated)`,
      );
    }
    for (const condition of conditions) validateCondition(condition, `${path}.${key}`);
  }
}

function validateCondition(condition: unknown, path: string): void {
  if (!isRecord(condition)) return;
  const keys = Object.keys(condition);
  const op = keys[0];
  if (keys.length !== 1 || op === undefined || !OPERATORS.has(op)) {
    throw new FilterPolicyError(`${path}: unsupported condition ${JSON.stringify(condition)}`);
  }
  const arg = condition[op];
  if (op === 'numeric') {
    if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) {
      throw new FilterPolicyError(`${path}: numeric takes [op, n] or [op, n, op, n]`);
    }
    for (let i = 0; i < arg.length; i += 2) {
      if (!NUMERIC_OPERATORS.has(String(arg[i])) || typeof arg[i + 1] !== 'number') {
        throw new FilterPolicyError(`${path}: bad numeric condition ${JSON.stringify(arg)}`);
      }
    }
  }
  if (op === 'anything-but' && isRecord(arg)) {
    const inner = Object.keys(arg);
    if (inner.length !== 1 || (inner[0] !== 'prefix' && inner[0] !== 'suffix')) {
      throw new FilterPolicyError(`${path}: anything-but takes a value, a list, { prefix } or { suffix }`);
    }
  }
}

/** Values of an attribute as typed scalars, or `undefined` when the policy must treat it as absent. */
function attributeValues(attribute: SnsAttribute | undefined): Scalar[] | undefined {
  if (attribute === undefined || attribute.type.startsWith('Binary')) return undefined;
  if (attribute.type.startsWith('String.Array') || attribute.type.startsWith('Number.Array')) {
    try {
      const parsed: unknown = JSON.parse(attribute.value);
      if (!Array.isArray(parsed)) return [];
      return parsed.filter(
        (v): v is Scalar => v === null || ['string', 'number', 'boolean'].includes(typeof v),
      );
    } catch {
      return [];
    }
  }
  if (attribute.type.startsWith('Number')) {
    const n = Number(attribute.value);
    return Number.isFinite(n) ? [n] : [];
  }
  return [attribute.value];
}

function numericMatches(value: number, spec: readonly unknown[]): boolean {
  for (let i = 0; i < spec.length; i += 2) {
    const bound = spec[i + 1] as number;
    switch (spec[i]) {
      case '=':
        if (!(value === bound)) return false;
        break;
      case '<':
        if (!(value < bound)) return false;
        break;
      case '<=':
        if (!(value <= bound)) return false;
        break;
      case '>':
        if (!(value > bound)) return false;
        break;
      case '>=':
        if (!(value >= bound)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

function valueMatches(value: Scalar, condition: unknown): boolean {
  if (!isRecord(condition)) return value === condition;
  const [op] = Object.keys(condition);
  const arg = op === undefined ? undefined : condition[op];
  switch (op) {
    case 'prefix':
      return typeof value === 'string' && typeof arg === 'string' && value.startsWith(arg);
    case 'suffix':
      return typeof value === 'string' && typeof arg === 'string' && value.endsWith(arg);
    case 'equals-ignore-case':
      return (
        typeof value === 'string' && typeof arg === 'string' && value.toLowerCase() === arg.toLowerCase()
      );
    case 'numeric':
      return typeof value === 'number' && Array.isArray(arg) && numericMatches(value, arg);
    case 'anything-but': {
      if (isRecord(arg)) return !valueMatches(value, arg);
      const excluded = Array.isArray(arg) ? arg : [arg];
      return !excluded.some((x) => x === value);
    }
    default:
      return false;
  }
}

function conditionMatches(values: Scalar[] | undefined, condition: unknown): boolean {
  if (isRecord(condition) && 'exists' in condition) {
    return condition.exists === true ? values !== undefined : values === undefined;
  }
  // Every other condition needs the attribute present: SNS does not match an absent attribute.
  if (values === undefined) return false;
  return values.some((value) => valueMatches(value, condition));
}

/** Whether a message with these attributes passes the subscription's filter policy. */
export function matchesFilterPolicy(
  policy: Readonly<Record<string, unknown>> | undefined,
  attributes: Readonly<Record<string, SnsAttribute>>,
): boolean {
  if (policy === undefined) return true;
  for (const [key, conditions] of Object.entries(policy)) {
    if (key === '$or') {
      const alternatives = Array.isArray(conditions) ? conditions : [];
      if (!alternatives.some((sub) => isRecord(sub) && matchesFilterPolicy(sub, attributes))) return false;
      continue;
    }
    const values = attributeValues(attributes[key]);
    const list = Array.isArray(conditions) ? conditions : [conditions];
    if (!list.some((condition) => conditionMatches(values, condition))) return false;
  }
  return true;
}
