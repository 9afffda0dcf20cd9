// Module resolve hooks of a function's worker: the AWS SDK for JavaScript v3 that Lambda's Node.js
// runtimes provide. On Lambda, a handler that imports `@aws-sdk/…` without shipping it gets the
// runtime's copy; here such an import, when the handler's own folders have no copy, resolves from
// this project's node_modules instead of failing. A copy next to the handler always wins, as a
// bundled or deployed SDK does on Lambda. In JavaScript on purpose: hooks load before tsx's.

/** Packages the Lambda Node.js runtimes carry: the SDK v3 clients and the libraries under them. */
const PROVIDED = /^@(aws-sdk|smithy|aws-crypto)\//;
/** Resolution starts here when the handler's folders lack the package: this project's modules. */
const RUNTIME_PARENT = import.meta.url;

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !PROVIDED.test(specifier)) throw error;
    return nextResolve(specifier, { ...context, parentURL: RUNTIME_PARENT });
  }
}
