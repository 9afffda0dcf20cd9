/**
 * Identity-based policy evaluation for the local runtime's strict IAM mode: each function signs its
 * calls with its own access key id, and the AWS endpoint and the management API ask an
 * {@link AccessEvaluator} whether the function's role allows the call, answering AccessDenied as
 * AWS does when it does not. Only identity-based policies are modelled (no resource policies,
 * permission boundaries, SCPs or session policies), and conditions are not evaluated (see
 * docs/local-runtime.md, "Strict IAM").
 */

/** One statement of an identity-based policy, its values already resolved to local ARNs. */
export interface PolicyStatement {
  readonly effect: 'Allow' | 'Deny';
  /** `Action` patterns (`dynamodb:PutItem`, `sns:*`); absent when the statement uses `NotAction`. */
  readonly actions?: readonly string[];
  readonly notActions?: readonly string[];
  /** `Resource` patterns (ARNs with `*` and `?`); absent when the statement uses `NotResource`. */
  readonly resources?: readonly string[];
  readonly notResources?: readonly string[];
  /**
   * The statement has a `Condition`, which is not evaluated: an Allow applies as if its condition
   * held, a Deny is left out, so strict mode never refuses what AWS might allow. @default false
   */
  readonly conditional?: boolean;
}

/** Who a caller is on AWS: the role its credentials come from, and that role's policies. */
export interface CallerIdentity {
  /** Name of the role (`assumed-role/{roleName}/…` in messages). */
  readonly roleName: string;
  /** Session name; Lambda names the session after the function. */
  readonly sessionName: string;
  readonly statements: readonly PolicyStatement[];
}

/** Options of {@link AccessEvaluator}. */
export interface AccessPolicies {
  /** Account in the principal's ARN. */
  readonly accountId: string;
  /** Callers by the access key id they sign with; requests signed with any other key are not checked. */
  readonly callers: Readonly<Record<string, CallerIdentity>>;
  /** Told of every refused call (e.g. to log it: the function's own log may swallow the error). */
  readonly onDenial?: (denial: AccessDenial) => void;
}

/** One call to authorize: an IAM action (`dynamodb:PutItem`) on a resource ARN. */
export interface AccessRequest {
  readonly action: string;
  readonly resource: string;
}

/** Why a call is refused, with the message AWS gives. */
export interface AccessDenial extends AccessRequest {
  /** `arn:aws:sts::{account}:assumed-role/{role}/{session}`. */
  readonly principal: string;
  /** An explicit Deny matched (else no Allow did). */
  readonly explicit: boolean;
}

/** Decides calls against the callers' identity-based policies: an explicit Deny wins, and no Allow is a denial. */
export class AccessEvaluator {
  readonly #policies: AccessPolicies;
  readonly #callers: ReadonlyMap<string, CallerIdentity>;

  constructor(policies: AccessPolicies) {
    this.#policies = policies;
    this.#callers = new Map(Object.entries(policies.callers));
  }

  /** The caller a SigV4 `Authorization` header names by its `Credential=` key, if it is one to check. */
  callerOf(authorization: string | readonly string[] | undefined): CallerIdentity | undefined {
    const header = Array.isArray(authorization) ? authorization[0] : authorization;
    if (typeof header !== 'string') return undefined;
    const match = /Credential=([^/,\s]+)\//.exec(header);
    return match?.[1] === undefined ? undefined : this.#callers.get(match[1]);
  }

  /** The first of `requests` the caller may not make, or undefined when every one is allowed. */
  check(caller: CallerIdentity, requests: readonly AccessRequest[]): AccessDenial | undefined {
    for (const request of requests) {
      const explicit = caller.statements.some(
        (statement) => statement.effect === 'Deny' && !statement.conditional && matches(statement, request),
      );
      const allowed =
        !explicit &&
        caller.statements.some((statement) => statement.effect === 'Allow' && matches(statement, request));
      if (!allowed) {
        const denial = {
          ...request,
          principal: `arn:aws:sts::${this.#policies.accountId}:assumed-role/${caller.roleName}/${caller.sessionName}`,
          explicit,
        };
        this.#policies.onDenial?.(denial);
        return denial;
      }
    }
    return undefined;
  }
}

/**
 * AWS's wording of a denial. `shownAction` is the action as the service spells it in its messages
 * (SNS writes `SNS:Publish`, SQS `sqs:sendmessage`). @default denial.action
 */
export function denialMessage(denial: AccessDenial, shownAction: string = denial.action): string {
  const reason = denial.explicit
    ? 'with an explicit deny in an identity-based policy'
    : `because no identity-based policy allows the ${shownAction} action`;
  return `User: ${denial.principal} is not authorized to perform: ${shownAction} on resource: ${denial.resource} ${reason}`;
}

function matches(statement: PolicyStatement, request: AccessRequest): boolean {
  const action = statement.actions
    ? statement.actions.some((pattern) => wildcard(pattern, request.action, true))
    : !(statement.notActions ?? []).some((pattern) => wildcard(pattern, request.action, true));
  if (!action) return false;
  return statement.resources
    ? statement.resources.some((pattern) => wildcard(pattern, request.resource, false))
    : !(statement.notResources ?? []).some((pattern) => wildcard(pattern, request.resource, false));
}

const PATTERNS = new Map<string, RegExp>();

/** IAM's wildcards: `*` any run of characters, `?` one; actions match without regard to case. */
function wildcard(pattern: string, value: string, ignoreCase: boolean): boolean {
  if (pattern === '*') return true;
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let regex = PATTERNS.get(key);
  if (regex === undefined) {
    const source = pattern
      .split('')
      .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
      .join('');
    regex = new RegExp(`^${source}$`, ignoreCase ? 'is' : 's');
    PATTERNS.set(key, regex);
  }
  return regex.test(value);
}
