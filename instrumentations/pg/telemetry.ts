/**
 * What the pg instrumentation records: a CLIENT span per query, named and
 * attributed after the current database semantic conventions, and the
 * `db.client.operation.duration` histogram. The hooks in `instrumentation.ts`
 * decide when a query starts and ends; this file decides what is recorded.
 */
import * as api from '@opentelemetry/api';
import {
  type Attributes,
  type Context,
  type Histogram,
  type Meter,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
  METRIC_DB_CLIENT_OPERATION_DURATION,
} from '@opentelemetry/semantic-conventions';
import { activeContext } from '../common/context';
import { errorType, recordFailure } from '../common/errors';
import { summarizeStatement, type StatementSummary } from './sql';

// Read once: in the agent's bundle every read of an imported name is a re-export getter call.
const { SpanKind, trace, ValueType } = api;

/** Where a client is connected. */
export interface ConnectionInfo {
  database?: string;
  host?: string;
  port?: number;
}

/** What every query of one statement text on one connection target records: made once, frozen. */
export class QueryShape {
  constructor(
    /** The span name (see {@link querySpanName}). */
    readonly name: string,
    /** The span's attributes: the measurement's and `db.query.text`. */
    readonly spanAttributes: Attributes,
    /** The duration measurement's attributes (`error.type` is added to a copy on failure). */
    readonly metricAttributes: Attributes,
  ) {}
}

/**
 * Most statement texts whose {@link QueryShape} one {@link QueryTarget} keeps. An app runs a
 * fixed set of texts (values go in parameters); past this many (an app inlining values into its
 * SQL) the target starts over, and the frozen objects it let go are collected, their recorder
 * sets with them.
 */
export const QUERY_SHAPES_PER_TARGET = 512;

/**
 * One connection target (database, host, port) and the shapes of the statements run on it. A
 * query's span and measurement attributes are then the same frozen objects for every run of a
 * statement, which the recorder encodes once and names by a registered set afterwards, and no
 * attribute object is made per query.
 */
export class QueryTarget {
  private readonly shapes = new Map<string, QueryShape>();
  /** The shape of a query whose text is unknown (a submittable without `text`). */
  private noText: QueryShape | undefined;

  constructor(readonly connection: Readonly<ConnectionInfo>) {}

  /** The name and attributes of a query of `text` here (the same objects for the same text). */
  shape(text: string | undefined): QueryShape {
    if (text === undefined) return (this.noText ??= this.make(undefined));
    let shape = this.shapes.get(text);
    if (shape === undefined) {
      if (this.shapes.size >= QUERY_SHAPES_PER_TARGET) this.shapes.clear();
      shape = this.make(text);
      this.shapes.set(text, shape);
    }
    return shape;
  }

  private make(text: string | undefined): QueryShape {
    const connection = this.connection;
    const { operation, collection } = text === undefined ? ({} as StatementSummary) : summarizeStatement(text);
    const common: Attributes = { [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL };
    if (connection.database) common[ATTR_DB_NAMESPACE] = connection.database;
    if (operation) common[ATTR_DB_OPERATION_NAME] = operation;
    if (collection) common[ATTR_DB_COLLECTION_NAME] = collection;
    if (connection.host) common[ATTR_SERVER_ADDRESS] = connection.host;
    if (connection.port !== undefined && Number.isInteger(connection.port)) common[ATTR_SERVER_PORT] = connection.port;
    const spanAttributes: Attributes = { ...common };
    if (text !== undefined) spanAttributes[ATTR_DB_QUERY_TEXT] = text;
    return new QueryShape(
      querySpanName(operation, collection, connection.database),
      Object.freeze(spanAttributes),
      Object.freeze(common),
    );
  }
}

/** Distinct connection targets kept; a client beyond them gets a target of its own. */
const TARGET_LIMIT = 64;
const targets = new Map<string, QueryTarget>();

/**
 * The shared {@link QueryTarget} for a connection (one per distinct database, host and port, so
 * the clients of a pool share their statements' shapes).
 */
export function queryTarget(connection: ConnectionInfo): QueryTarget {
  const key = `${connection.database ?? ''}\u0000${connection.host ?? ''}\u0000${connection.port ?? ''}`;
  let target = targets.get(key);
  if (target === undefined) {
    target = new QueryTarget(Object.freeze({ ...connection }));
    if (targets.size < TARGET_LIMIT) targets.set(key, target);
  }
  return target;
}

/** Bucket boundaries the semantic conventions advise for database durations, in seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

/**
 * The span name: `<operation> <collection>`, else `<operation> <namespace>`, else
 * the namespace, else `postgresql`.
 */
export function querySpanName(operation: string | undefined, collection: string | undefined, namespace: string | undefined): string {
  const target = collection ?? namespace;
  if (operation && target) return `${operation} ${target}`;
  return operation ?? target ?? DB_SYSTEM_NAME_VALUE_POSTGRESQL;
}

/** One query in flight. `end` records it once; later calls do nothing. */
export class QueryOperation {
  private ended = false;

  constructor(
    private readonly span: Span,
    /** Shared between queries (frozen): copied, not changed, when an error adds to it. */
    private readonly metricAttributes: Attributes,
    private readonly startedAt: number,
    private readonly histogram: Histogram,
    /** The context the query was issued in; callbacks and continuations run in it. */
    readonly parentContext: Context,
  ) {}

  /** Ends the query, failed when `error` is set (anything but `null`/`undefined`). */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    const seconds = (performance.now() - this.startedAt) / 1000;
    let metricAttributes = this.metricAttributes;
    if (error !== undefined && error !== null) {
      recordFailure(this.span, error, true);
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
        this.span.setAttribute(ATTR_DB_RESPONSE_STATUS_CODE, code);
      }
      metricAttributes = { ...metricAttributes, [ATTR_ERROR_TYPE]: errorType(error) };
    }
    this.span.end();
    // Measured in the span's context, so the measurement can carry it as an exemplar.
    this.histogram.record(seconds, metricAttributes, trace.setSpan(this.parentContext, this.span));
  }
}

/** Records pg queries through one tracer and one meter. */
export class PgTelemetry {
  private meterInUse: Meter | undefined;
  private histogram: Histogram | undefined;

  constructor(
    private readonly tracer: () => Tracer,
    private readonly meter: () => Meter,
  ) {}

  private durationHistogram(): Histogram {
    const meter = this.meter();
    if (this.histogram === undefined || meter !== this.meterInUse) {
      this.meterInUse = meter;
      this.histogram = meter.createHistogram(METRIC_DB_CLIENT_OPERATION_DURATION, {
        description: 'Duration of database client operations.',
        unit: 's',
        valueType: ValueType.DOUBLE,
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      });
    }
    return this.histogram;
  }

  /**
   * Starts a query span as a child of the active context.
   * @param text the statement as given to pg (with `$1` placeholders; values are never read)
   * @param target where the client is connected (see {@link queryTarget})
   */
  startQuery(text: string | undefined, target: QueryTarget): QueryOperation {
    const parentContext = activeContext();
    const shape = target.shape(text);
    const span = this.tracer().startSpan(shape.name, { kind: SpanKind.CLIENT, attributes: shape.spanAttributes }, parentContext);
    return new QueryOperation(span, shape.metricAttributes, performance.now(), this.durationHistogram(), parentContext);
  }
}
