/**
 * The `@opentelemetry/api` trace surface (TracerProvider, Tracer, Span) written straight onto
 * the native recorder.
 *
 * A span's start is written when it starts (so a crash still shows it); name changes, attribute
 * updates and links made after the start are kept on the span and written together just before
 * its end, one native call each; events go to the events ring at once. Unsampled spans are the
 * API's non-recording spans and write nothing.
 */
import * as api from '@opentelemetry/api';
import {
  type Attributes as ApiAttributes,
  type AttributeValue as ApiAttributeValue,
  type Context,
  type Exception,
  type Link,
  type Span as ApiSpan,
  type SpanContext,
  type SpanOptions,
  type SpanStatus as ApiSpanStatus,
  type TimeInput,
  type Tracer as ApiTracer,
  type TracerOptions,
  type TracerProvider as ApiTracerProvider,
} from '@opentelemetry/api';
import type { Attributes, Id, Recorder, SpanKindNumber, SpanLink, SpanStatus } from '../index';
import { applyLimits, isValidAttributeValue, needsTruncation, truncateValue } from './attributes';
import type { SpanLimits } from './config';
import { hexOf, IdGenerator } from './ids';
import { reportOnce } from './log';
import { activeContext } from '../instrumentations/common/context';
import { SET_ATTRIBUTE_SET, START_SPAN_PARTS, type AttributeSetSpan, type PartsTracer } from '../instrumentations/common/spanParts';
import type { Sampler } from './sampler';
import { toNanos } from './time';

// Read once: in the agent's bundle every read of an imported name is a re-export getter call
// (a megamorphic keyed load), which showed in per-request profiles.
const { context: contextApi, diag, isSpanContextValid, SpanStatusCode, trace: traceApi } = api;

/** Bits 8 (has-is-remote) and 9 (is-remote) of the OTLP span flags. */
const FLAG_HAS_IS_REMOTE = 0x100;
const FLAG_IS_REMOTE = 0x200;
const SAMPLED = 1;
/** What the sampler is told of a local parent (a recording span, so sampled). */
const SAMPLED_PARENT = Object.freeze({ traceFlags: SAMPLED });
const NO_OPTIONS: SpanOptions = Object.freeze({});

/** A span that is not recorded: the API's non-recording span with these ids. */
function unrecorded(traceId: Id, spanId: Uint8Array, traceFlags: number, traceState: SpanContext['traceState']): ApiSpan {
  return traceApi.wrapSpanContext({
    traceId: typeof traceId === 'string' ? traceId : hexOf(traceId),
    spanId: hexOf(spanId),
    traceFlags,
    traceState,
  });
}
const EVENT_NAME_CACHE_LIMIT = 1024;

/** What every tracer of one provider shares. */
export interface TraceShared {
  recorder: Recorder;
  resourceRef: number;
  sampler: Sampler;
  limits: SpanLimits;
  ids: IdGenerator;
  /** False with `OTEL_TRACES_EXPORTER=none`: spans are sampled and propagated, but not written. */
  record?: boolean;
  /** Interns an event name, through a bounded cache. */
  eventNameRef(name: string): number;
}

/** Creates the shared event-name interning function for `recorder`. */
export function eventNameInterner(recorder: Recorder): (name: string) => number {
  const cache = new Map<string, number>();
  return (name: string): number => {
    let ref = cache.get(name);
    if (ref === undefined) {
      ref = recorder.recordString(name);
      if (cache.size < EVENT_NAME_CACHE_LIMIT) cache.set(name, ref);
    }
    return ref;
  };
}

function isTimeInput(v: unknown): v is TimeInput {
  return (
    typeof v === 'number' ||
    v instanceof Date ||
    (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number')
  );
}

/** A recording, sampled span. Every method catches its own errors; none throws into the caller. */
/** A span's ids as the recorder takes them, with its (sampled) trace flags: for exemplars. */
export interface RecordedSpanContext {
  readonly traceId: Id;
  readonly spanId: Uint8Array;
  readonly traceFlags: number;
}

export class RecordingSpan implements ApiSpan, AttributeSetSpan {
  private ended = false;
  private recorded: RecordedSpanContext | undefined = undefined;
  private name: string;
  private nameChanged = false;
  private attributeCount: number;
  private pending: Attributes | undefined;
  /** `pending` is a frozen object given whole (see `SET_ATTRIBUTE_SET`): copied before a change. */
  private pendingShared = false;
  private eventCount = 0;
  private linkCount: number;
  private pendingLinks: SpanLink[] | undefined;
  private status: SpanStatus | undefined;

  /** @internal */
  /** The API span context, made from the id bytes on first use (most spans are never asked). */
  private context: SpanContext | undefined = undefined;

  constructor(
    private readonly tracer: Tracer,
    /**
     * @internal The trace id for the recorder: its 16 bytes when this process started the trace
     * (shared by the trace's spans here), else the remote parent's hex (the recorder decodes it).
     */
    readonly recTraceId: Id,
    /** @internal The span id's 8 bytes. */
    readonly recSpanId: Uint8Array,
    name: string,
    private readonly startAttributes: Attributes | undefined,
    /** The second part of the start's attributes, if it came in two (see `START_SPAN_PARTS`). */
    private readonly moreStartAttributes: Attributes | undefined,
    attributeCount: number,
    linkCount: number,
    /** The trace state inherited from the parent, if any. */
    private readonly traceState: SpanContext['traceState'],
  ) {
    this.name = name;
    this.attributeCount = attributeCount;
    this.linkCount = linkCount;
  }

  spanContext(): SpanContext {
    let sc = this.context;
    if (sc === undefined) {
      const traceId = this.recTraceId;
      sc = { traceId: typeof traceId === 'string' ? traceId : hexOf(traceId), spanId: hexOf(this.recSpanId), traceFlags: SAMPLED, isRemote: false };
      if (this.traceState !== undefined) sc.traceState = this.traceState;
      this.context = sc;
    }
    return sc;
  }

  /** @internal The parent's trace state, for a child span (without making this span's hex ids). */
  inheritedTraceState(): SpanContext['traceState'] {
    return this.traceState;
  }

  /** @internal This span's ids as the recorder takes them (made once), for exemplars. */
  recordedContext(): RecordedSpanContext {
    return (this.recorded ??= { traceId: this.recTraceId, spanId: this.recSpanId, traceFlags: SAMPLED });
  }

  isRecording(): boolean {
    return !this.ended;
  }

  setAttribute(key: string, value: ApiAttributeValue): this {
    if (this.ended || value === undefined || value === null) return this;
    if (typeof key !== 'string' || key.length === 0 || !isValidAttributeValue(value)) {
      diag.warn(`otlp-mmap: invalid attribute ignored: ${String(key)}`);
      return this;
    }
    const limits = this.tracer.shared.limits;
    let pending = this.pending;
    const known =
      (pending !== undefined && key in pending) ||
      (this.startAttributes !== undefined && this.startAttributes[key] !== undefined) ||
      (this.moreStartAttributes !== undefined && this.moreStartAttributes[key] !== undefined);
    if (!known) {
      if (this.attributeCount >= limits.attributeCountLimit) return this;
      this.attributeCount++;
    }
    if (pending === undefined) pending = this.pending = {};
    else if (this.pendingShared) {
      pending = this.pending = { ...pending };
      this.pendingShared = false;
    }
    pending[key] = (
      limits.attributeValueLengthLimit === Infinity ? value : truncateValue(value, limits.attributeValueLengthLimit)
    ) as Attributes[string];
    return this;
  }

  setAttributes(attributes: ApiAttributes): this {
    if (this.ended || attributes === null || typeof attributes !== 'object') return this;
    for (const key in attributes) this.setAttribute(key, attributes[key] as ApiAttributeValue);
    return this;
  }

  /**
   * @internal `setAttributes(attributes)` for a frozen object: kept as the span's late attributes
   * as it is when it is the first of them and every key is new, valid and within the limits (so
   * that the recorder names it by its registered set); otherwise set key by key.
   */
  [SET_ATTRIBUTE_SET](attributes: ApiAttributes): void {
    if (this.ended) return;
    if (this.pending === undefined && Object.isFrozen(attributes)) {
      const limits = this.tracer.shared.limits;
      const lengthLimit = limits.attributeValueLengthLimit;
      const start = this.startAttributes;
      const more = this.moreStartAttributes;
      let n = 0;
      let whole = true;
      for (const key in attributes) {
        const v = attributes[key];
        if (v === undefined || v === null) continue;
        if (
          key.length === 0 ||
          !isValidAttributeValue(v) ||
          (lengthLimit !== Infinity && needsTruncation(v, lengthLimit)) ||
          (start !== undefined && start[key] !== undefined) ||
          (more !== undefined && more[key] !== undefined)
        ) {
          whole = false;
          break;
        }
        n++;
      }
      if (whole && this.attributeCount + n <= limits.attributeCountLimit) {
        this.attributeCount += n;
        this.pending = attributes as Attributes;
        this.pendingShared = true;
        return;
      }
    }
    this.setAttributes(attributes);
  }

  addEvent(name: string, attributesOrStartTime?: ApiAttributes | TimeInput, startTime?: TimeInput): this {
    if (this.ended) return this;
    const limits = this.tracer.shared.limits;
    if (this.eventCount >= limits.eventCountLimit) return this;
    this.eventCount++;
    let attributes: ApiAttributes | undefined;
    if (isTimeInput(attributesOrStartTime)) startTime = attributesOrStartTime;
    else attributes = attributesOrStartTime;
    try {
      const shared = this.tracer.shared;
      const limited = applyLimits(attributes, limits.attributePerEventCountLimit, limits.attributeValueLengthLimit);
      shared.recorder.recordEvent(
        this.tracer.scopeRef,
        this.recordedContext(),
        shared.eventNameRef(String(name)),
        toNanos(startTime),
        limited.attributes,
      );
    } catch (e) {
      reportOnce('span.addEvent', e);
    }
    return this;
  }

  addLink(link: Link): this {
    return this.addLinks([link]);
  }

  addLinks(links: Link[]): this {
    if (this.ended || !Array.isArray(links)) return this;
    const converted = this.tracer.convertLinks(links, this.linkCount);
    if (converted.length === 0) return this;
    this.linkCount += converted.length;
    if (this.pendingLinks === undefined) this.pendingLinks = converted;
    else this.pendingLinks.push(...converted);
    return this;
  }

  setStatus(status: ApiSpanStatus): this {
    if (this.ended || status === null || typeof status !== 'object') return this;
    if (status.code === SpanStatusCode.UNSET) return this;
    if (this.status !== undefined && this.status.code === SpanStatusCode.OK) return this;
    if (status.code === SpanStatusCode.OK) this.status = { code: 1 };
    else if (status.code === SpanStatusCode.ERROR) {
      this.status = typeof status.message === 'string' ? { code: 2, message: status.message } : { code: 2 };
    }
    return this;
  }

  updateName(name: string): this {
    if (this.ended) return this;
    this.name = String(name);
    this.nameChanged = true;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this.ended) return;
    this.ended = true;
    const shared = this.tracer.shared;
    const rec = shared.recorder;
    const scope = this.tracer.scopeRef;
    const traceId = this.recTraceId;
    const spanId = this.recSpanId;
    if (this.pendingLinks !== undefined) {
      try {
        rec.recordSpanLinks(scope, traceId, spanId, this.pendingLinks);
      } catch (e) {
        reportOnce('span.end (links)', e);
      }
    }
    const end = toNanos(endTime);
    try {
      // Final name, late attributes and the end in one recorder call.
      rec.recordSpanEnd(scope, traceId, spanId, end, this.status, this.nameChanged ? this.name : undefined, this.pending);
    } catch (e) {
      reportOnce('span.end (name, attributes)', e);
      try {
        rec.recordSpanEnd(scope, traceId, spanId, end, this.status);
      } catch (e2) {
        reportOnce('span.end', e2);
      }
    }
    this.pending = undefined;
    this.pendingShared = false;
    this.pendingLinks = undefined;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: ApiAttributes = {};
    if (typeof exception === 'string') {
      attributes['exception.message'] = exception;
    } else if (exception !== null && typeof exception === 'object') {
      const e = exception as { name?: unknown; code?: unknown; message?: unknown; stack?: unknown };
      if (e.code !== undefined && e.code !== null) attributes['exception.type'] = String(e.code);
      else if (typeof e.name === 'string') attributes['exception.type'] = e.name;
      if (typeof e.message === 'string') attributes['exception.message'] = e.message;
      if (typeof e.stack === 'string') attributes['exception.stacktrace'] = e.stack;
    }
    if (attributes['exception.type'] === undefined && attributes['exception.message'] === undefined) {
      attributes['exception.message'] = String(exception);
    }
    this.addEvent('exception', attributes, time);
  }
}

/** One tracer: one instrumentation scope in the file. */
export class Tracer implements ApiTracer, PartsTracer {
  /** @internal */
  constructor(
    readonly shared: TraceShared,
    readonly scopeRef: number,
  ) {}

  startSpan(name: string, options?: SpanOptions, ctx?: Context): ApiSpan {
    return this.open(name, options ?? NO_OPTIONS, undefined, ctx);
  }

  /** @internal A start whose attributes come in two parts (see instrumentations/common/spanParts.ts). */
  [START_SPAN_PARTS](name: string, kind: api.SpanKind, own: ApiAttributes, shared: ApiAttributes, ctx: Context): ApiSpan {
    return this.open(name, { kind, attributes: own }, shared, ctx);
  }

  private open(name: string, opts: SpanOptions, moreAttributes: ApiAttributes | undefined, ctx: Context | undefined): ApiSpan {
    const shared = this.shared;
    let recTraceId: Id | undefined;
    let recSpanId: Uint8Array | undefined;
    let traceState: SpanContext['traceState'];
    try {
      // Our own parent span hands over its id bytes (no hex is made for it); a remote or foreign
      // parent's hex goes to the recorder as it is.
      let parentSpan: RecordingSpan | undefined;
      let parent: SpanContext | undefined;
      if (!opts.root) {
        const span = traceApi.getSpan(ctx ?? activeContext());
        if (span instanceof RecordingSpan) {
          parentSpan = span;
          traceState = span.inheritedTraceState();
        } else if (span !== undefined) {
          const sc = span.spanContext();
          if (isSpanContextValid(sc)) {
            parent = sc;
            traceState = sc.traceState;
          }
        }
      }
      if (parentSpan !== undefined) {
        recTraceId = parentSpan.recTraceId;
      } else if (parent !== undefined) {
        recTraceId = parent.traceId;
      } else {
        const bytes = new Uint8Array(16);
        shared.ids.traceIdBytes(bytes);
        recTraceId = bytes;
      }
      recSpanId = new Uint8Array(8);
      shared.ids.spanIdBytes(recSpanId);
      // A local parent is a recording span, so sampled.
      const parentFlags = parentSpan !== undefined ? SAMPLED_PARENT : parent;
      if (!shared.sampler.shouldSample(recTraceId, parentFlags)) {
        return unrecorded(recTraceId, recSpanId, 0, traceState);
      }
      if (shared.record === false) {
        return unrecorded(recTraceId, recSpanId, SAMPLED, traceState);
      }
      const parentId: Id | null = parentSpan !== undefined ? parentSpan.recSpanId : parent !== undefined ? parent.spanId : null;
      const limits = shared.limits;
      const limited = applyLimits(opts.attributes, limits.attributeCountLimit, limits.attributeValueLengthLimit);
      let more: Attributes | undefined;
      let attributeCount = limited.count;
      if (moreAttributes !== undefined) {
        const second = applyLimits(moreAttributes, limits.attributeCountLimit - attributeCount, limits.attributeValueLengthLimit);
        more = second.attributes;
        attributeCount += second.count;
      }
      const spanName = typeof name === 'string' ? name : String(name);
      const flags = SAMPLED | FLAG_HAS_IS_REMOTE | (parent !== undefined && parent.isRemote ? FLAG_IS_REMOTE : 0);
      const kind = (typeof opts.kind === 'number' && opts.kind >= 0 && opts.kind <= 4 ? opts.kind + 1 : 1) as SpanKindNumber;
      shared.recorder.recordSpanStart(
        this.scopeRef,
        recTraceId,
        recSpanId,
        parentId,
        flags,
        spanName,
        kind,
        toNanos(opts.startTime),
        limited.attributes,
        more,
      );
      let linkCount = 0;
      if (opts.links !== undefined && opts.links.length > 0) {
        const links = this.convertLinks(opts.links, 0);
        linkCount = links.length;
        if (linkCount > 0) {
          try {
            shared.recorder.recordSpanLinks(this.scopeRef, recTraceId, recSpanId, links);
          } catch (e) {
            reportOnce('span links', e);
          }
        }
      }
      return new RecordingSpan(this, recTraceId, recSpanId, spanName, limited.attributes, more, attributeCount, linkCount, traceState);
    } catch (e) {
      reportOnce('startSpan', e);
      if (recTraceId !== undefined && recSpanId !== undefined) return unrecorded(recTraceId, recSpanId, 0, traceState);
      return traceApi.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 });
    }
  }

  startActiveSpan<F extends (span: ApiSpan) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: ApiSpan) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: ApiSpan) => unknown>(
    name: string,
    options: SpanOptions,
    context: Context,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan<F extends (span: ApiSpan) => unknown>(
    name: string,
    a?: F | SpanOptions,
    b?: F | Context,
    c?: F,
  ): ReturnType<F> | undefined {
    let options: SpanOptions | undefined;
    let ctx: Context | undefined;
    let fn: F;
    if (typeof a === 'function') fn = a;
    else if (typeof b === 'function') {
      options = a;
      fn = b;
    } else {
      options = a;
      ctx = b;
      fn = c as F;
    }
    if (typeof fn !== 'function') return undefined;
    const parentContext = ctx ?? activeContext();
    const span = this.startSpan(name, options, parentContext);
    return contextApi.with(traceApi.setSpan(parentContext, span), fn as (s: ApiSpan) => ReturnType<F>, undefined, span);
  }

  /** @internal Validates links and applies the link count and per-link attribute limits. */
  convertLinks(links: readonly Link[], already: number): SpanLink[] {
    const limits = this.shared.limits;
    const out: SpanLink[] = [];
    for (const link of links) {
      if (already + out.length >= limits.linkCountLimit) break;
      if (link === null || typeof link !== 'object' || !isSpanContextValid(link.context)) continue;
      const limited = applyLimits(link.attributes, limits.attributePerLinkCountLimit, limits.attributeValueLengthLimit);
      const converted: SpanLink = {
        traceId: link.context.traceId,
        spanId: link.context.spanId,
        traceFlags: link.context.traceFlags,
      };
      const traceState = link.context.traceState?.serialize();
      if (traceState) converted.traceState = traceState;
      if (limited.attributes !== undefined) converted.attributes = limited.attributes;
      if (limited.dropped > 0) converted.droppedAttributesCount = limited.dropped;
      out.push(converted);
    }
    return out;
  }
}

/** The global tracer provider: one {@link Tracer} (one scope) per name, version and schema URL. */
export class TracerProvider implements ApiTracerProvider {
  private readonly tracers = new Map<string, Tracer>();

  /** @internal */
  constructor(private readonly shared: TraceShared) {}

  getTracer(name: string, version?: string, options?: TracerOptions): ApiTracer {
    const n = typeof name === 'string' ? name : '';
    const key = `${n}\0${version ?? ''}\0${options?.schemaUrl ?? ''}`;
    let tracer = this.tracers.get(key);
    if (tracer === undefined) {
      try {
        const scopeRef = this.shared.recorder.createInstrumentationScope(this.shared.resourceRef, n, version);
        tracer = new Tracer(this.shared, scopeRef);
        this.tracers.set(key, tracer);
      } catch (e) {
        reportOnce('getTracer', e);
        return noopTracer();
      }
    }
    return tracer;
  }

  /** Nothing is buffered: resolves at once. */
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to release: resolves at once (the file is released when the process exits). */
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function noopTracer(): ApiTracer {
  return {
    startSpan: () => traceApi.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 }),
    startActiveSpan: ((name: string, ...rest: unknown[]) => {
      const fn = rest[rest.length - 1] as (span: ApiSpan) => unknown;
      return fn(traceApi.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 }));
    }) as ApiTracer['startActiveSpan'],
  };
}
