import { ConfigError } from '../shared/errors.ts';

/** Reads a required environment variable, failing the cold start with a clear message. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`Environment variable ${name} is required but not set.`);
  }
  return value;
}

/** Reads an optional environment variable; empty counts as absent. */
export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Reads an optional positive integer environment variable with a default. */
export function positiveIntEnv(name: string, fallback: number): number {
  const raw = optionalEnv(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`Environment variable ${name} must be a positive integer, got "${raw}".`);
  }
  return value;
}

/** Reads an optional comma-separated list (spaces around items ignored); absent is empty. */
export function listEnv(name: string): string[] {
  return (optionalEnv(name) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** Reads an optional boolean (`true` or `false`) environment variable with a default. */
export function booleanEnv(name: string, fallback: boolean): boolean {
  const raw = optionalEnv(name);
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  throw new ConfigError(`Environment variable ${name} must be true or false, got "${raw}".`);
}

/** Reads an optional environment variable that must be one of `allowed`, with a default. */
export function oneOfEnv<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
  const raw = optionalEnv(name);
  if (raw === undefined) return fallback;
  if (!allowed.includes(raw as T)) {
    throw new ConfigError(`Environment variable ${name} must be one of ${allowed.join(', ')}, got "${raw}".`);
  }
  return raw as T;
}
