/**
 * Span starts whose attributes come in two parts: the span's own, and a frozen part shared by
 * many spans (an http server connection's attributes, say). The agent's tracer writes both as
 * one list without copying them, so the shared part is encoded once and then named by the set
 * the recorder registered for it (see `recordSpanStart`'s `moreAttributes` in index.d.ts). Any
 * other tracer gets one object holding both.
 */
import type { Attributes, Context, Span, SpanKind, Tracer } from '@opentelemetry/api';

/** The agent's tracer's method for a start in two parts (a symbol: not part of the API). */
export const START_SPAN_PARTS: unique symbol = Symbol.for('otlp-mmap.startSpanParts');

/** A tracer that takes a span's attributes in two parts. */
export interface PartsTracer {
  /**
   * `startSpan(name, { kind, attributes }, ctx)` with `shared`'s attributes after `own`'s. The
   * two should not have a key in common.
   */
  [START_SPAN_PARTS](name: string, kind: SpanKind, own: Attributes, shared: Attributes, ctx: Context): Span;
}

/**
 * Starts a span whose attributes are `own` then `shared`: through the agent's tracer, as two
 * parts; through any other, as one new object.
 */
export function startSpanParts(tracer: Tracer, name: string, kind: SpanKind, own: Attributes, shared: Attributes, ctx: Context): Span {
  const parts = (tracer as Partial<PartsTracer>)[START_SPAN_PARTS];
  if (typeof parts === 'function') return parts.call(tracer, name, kind, own, shared, ctx);
  return tracer.startSpan(name, { kind, attributes: { ...own, ...shared } }, ctx);
}
