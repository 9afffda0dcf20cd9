import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** One logger per function instance; structured JSON, service name from POWERTOOLS_SERVICE_NAME. */
export const logger = new Logger({ serviceName: 'pushline' });

/** One metrics buffer per function instance, flushed at the end of each invocation. */
export const metrics = new Metrics({ namespace: 'Pushline', serviceName: 'pushline' });

/** Adds a count metric (no-op when zero, to keep the EMF lines short). */
export function count(name: string, value: number): void {
  if (value > 0) metrics.addMetric(name, MetricUnit.Count, value);
}
