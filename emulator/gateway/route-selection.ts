/** Route selection of a WebSocket API message, as API Gateway does it. */
import { GatewayConfigError } from './errors.ts';

/** Picks a route key for a message, or undefined when neither a route nor `$default` matches. */
export type RouteSelector = (message: { readonly text: string | undefined }) => string | undefined;

/**
 * Builds the selector for `$request.body.a.b` expressions: the message must be JSON and the
 * path must lead to a string naming a route; otherwise (not JSON, field missing or not a string,
 * no such route) the message goes to `$default`, and nowhere when there is no `$default` either.
 * A message without text (`undefined`) goes to `$default`. (The gateway itself closes the
 * connection on a binary frame, as API Gateway does.)
 */
export function routeSelector(expression: string, routeKeys: ReadonlySet<string>): RouteSelector {
  const match = /^\$request\.body\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)$/.exec(expression);
  if (match === null) {
    throw new GatewayConfigError(
      `Unsupported routeSelectionExpression '${expression}': use $request.body.FIELD (for example $request.body.action).`,
    );
  }
  const path = (match[1] as string).split('.');
  const fallback = routeKeys.has('$default') ? '$default' : undefined;
  return ({ text }) => {
    if (text === undefined) return fallback;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return fallback;
    }
    for (const key of path) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return fallback;
      value = (value as Record<string, unknown>)[key];
    }
    if (typeof value !== 'string' || value.startsWith('$')) return fallback;
    return routeKeys.has(value) ? value : fallback;
  };
}
