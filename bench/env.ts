/** What every benchmark reads from its environment and writes beside its figures. */
import { cpus } from 'node:os';

/**
 * A positive integer option from the environment (`fallback` when unset), at most `max` when given.
 * Throws with the variable's name for anything else, before the benchmark starts.
 */
export function intEnv(name: string, fallback: number, max?: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0 || (max !== undefined && value > max)) {
    throw new Error(
      max === undefined
        ? `${name} must be a positive integer`
        : `${name} must be an integer from 1 to ${max}`,
    );
  }
  return value;
}

/** The machine a result was measured on, written at the top of each results file. */
export function machineFacts(): { generatedAt: string; node: string; cpus: number; cpuModel?: string } {
  return {
    generatedAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
  };
}
