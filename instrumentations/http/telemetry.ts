import { ValueType, type Histogram, type Meter, type Tracer } from '@opentelemetry/api';
import { DURATION_BUCKETS } from './semconv';

/**
 * What the http server and client telemetry share: the tracer, the known methods, and their
 * request-duration histogram (seconds, the advised buckets), created on first use.
 */
export abstract class HttpTelemetry {
  private histogram: Histogram | undefined;

  protected constructor(
    protected readonly tracer: Tracer,
    private readonly meter: Meter,
    protected readonly knownMethods: ReadonlySet<string>,
    private readonly metricName: string,
    private readonly metricDescription: string,
  ) {}

  /** The duration histogram (`http.server.request.duration` or `http.client.request.duration`). */
  duration(): Histogram {
    this.histogram ??= this.meter.createHistogram(this.metricName, {
      description: this.metricDescription,
      unit: 's',
      valueType: ValueType.DOUBLE,
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    return this.histogram;
  }
}
