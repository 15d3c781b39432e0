/**
 * Span starts whose attributes come in two parts: the span's own, and a frozen part shared by
 * many spans (an http server connection's attributes, say). The agent's tracer writes both as
 * one list without copying them, so the shared part is encoded once and then named by the set
 * the recorder registered for it (see `recordSpanStart`'s `moreAttributes` in index.d.ts). Any
 * other tracer gets one object holding both.
 *
 * The same goes for attributes set on a span as a whole frozen object (the http server span's
 * status code and route at its end): the agent's span keeps the object and hands it to the
 * recorder as it is.
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

/** The agent's span's method for setting a frozen attributes object (a symbol: not part of the API). */
export const SET_ATTRIBUTE_SET: unique symbol = Symbol.for('otlp-mmap.setAttributeSet');

/** A span that can keep a frozen attributes object as it is. */
export interface AttributeSetSpan {
  /** `setAttributes(attributes)`, keeping `attributes` (frozen) itself where it can. */
  [SET_ATTRIBUTE_SET](attributes: Attributes): void;
}

/**
 * Sets every attribute of `attributes` (frozen, reused across spans) on `span`: the agent's span
 * keeps the object itself, so that the recorder names it by its registered set; any other span
 * gets `setAttributes`.
 */
export function setAttributeSet(span: Span, attributes: Attributes): void {
  const set = (span as Partial<AttributeSetSpan>)[SET_ATTRIBUTE_SET];
  if (typeof set === 'function') set.call(span, attributes);
  else span.setAttributes(attributes);
}
