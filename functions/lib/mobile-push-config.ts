import { createDeviceStore } from '../adapters/device-store.ts';
import { createPushEndpoints } from '../adapters/push-endpoints.ts';
import type { MobilePushPorts, MobilePushSettings } from '../domain/mobile-push.ts';
import { ENV } from '../shared/environment.ts';
import { ConfigError } from '../shared/errors.ts';
import { parseApplications } from '../shared/mobile-push.ts';
import { listEnv, optionalEnv } from './config.ts';

/** Reads the mobile push settings at cold start; no applications means no mobile push. */
export function mobilePushSettingsFromEnv(): MobilePushSettings {
  const applications = parseApplications(optionalEnv(ENV.pushApplications) ?? '');
  if (typeof applications === 'string') {
    throw new ConfigError(`Environment variable ${ENV.pushApplications}: ${applications}.`);
  }
  return Object.freeze({ applications: Object.freeze(applications), types: listEnv(ENV.pushTypes) });
}

/** The ports of mobile push: device rows in the table, SNS platform endpoints. */
export function createMobilePushPorts(tableName: string, warn: MobilePushPorts['warn']): MobilePushPorts {
  return { devices: createDeviceStore(tableName), endpoints: createPushEndpoints(), warn };
}
