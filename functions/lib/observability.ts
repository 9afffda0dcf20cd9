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

/**
 * Writes the counts added so far as one EMF line, and nothing when there are none (Powertools would
 * log "No application metrics to publish" for every invocation that counted nothing).
 */
export function publishCounts(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/**
 * What an event sink reports: warnings to the log, and each dropped event to the `eventsDropped`
 * metric the construct's alarm watches (published at once: not every handler flushes counts).
 */
export const eventSinkReports = {
  warn: (message: string, details: Record<string, unknown>) => logger.warn(message, details),
  dropped: (events: number) => {
    count('eventsDropped', events);
    publishCounts();
  },
};
