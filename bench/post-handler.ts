/**
 * A bench-only Lambda handler (run by bench/deliver-cpu.ts in the local Lambda runtime): posts one
 * frame to each listed connection with the poster the deliver function uses, chosen the same way
 * (PUSHLINE_MANAGEMENT_CLIENT), so the thread CPU of its invocations is the posting alone.
 */
import { createConnectionPoster } from '../functions/adapters/management-api.ts';
import { fanOut } from '../functions/domain/fan-out.ts';
import { oneOfEnv, requireEnv } from '../functions/lib/config.ts';
import { ENV } from '../functions/shared/environment.ts';
import { DEFAULT_MANAGEMENT_CLIENT, MANAGEMENT_CLIENTS } from '../functions/shared/management-client.ts';

const CONCURRENCY = 32;
const poster = createConnectionPoster(requireEnv(ENV.callbackUrl), {
  maxSockets: CONCURRENCY,
  client: oneOfEnv(ENV.managementClient, MANAGEMENT_CLIENTS, DEFAULT_MANAGEMENT_CLIENT),
});

/** What one invocation posts. */
export interface PostEvent {
  readonly connectionIds: readonly string[];
  readonly frame: string;
}

/** Posts the frame to every connection; answers how many posts were delivered, gone and failed. */
export async function handler(event: PostEvent) {
  const { delivered, gone, failed } = await fanOut(
    event.connectionIds,
    (connectionId) => poster.post(connectionId, event.frame),
    CONCURRENCY,
  );
  return { delivered, gone, failed };
}
