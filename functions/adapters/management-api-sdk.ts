import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ManagementTransport, TransportOptions } from './management-api.ts';

/**
 * The management API through the SDK's ApiGatewayManagementApiClient (`PUSHLINE_MANAGEMENT_CLIENT=sdk`),
 * with the SDK's retries off (maxAttempts 1) so the poster's policy is the only one.
 */
export function createSdkTransport(options: TransportOptions): ManagementTransport {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets };
  const client = new ApiGatewayManagementApiClient({
    endpoint: options.callbackUrl,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: options.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      // Without it, @smithy/node-http-handler 4.x only logs a warning when requestTimeout passes and
      // the post goes on waiting.
      throwOnRequestTimeout: true,
    }),
  });
  return {
    async postToConnection(connectionId, data) {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
    },
    async deleteConnection(connectionId) {
      await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    },
  };
}
