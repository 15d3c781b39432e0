/**
 * The agent's propagator (`OTEL_PROPAGATORS`: W3C trace context and baggage) returns the context
 * it was given, without going through the composite, when a carrier has neither header; in every
 * case it must extract exactly what `@opentelemetry/core`'s `CompositePropagator` of the same
 * propagators extracts.
 */
import * as api from '@opentelemetry/api';
import * as core from '@opentelemetry/core';
import { AgentPropagator } from '../agent/propagator';
import type { PropagatorName } from '../agent/config';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

function composite(names: readonly PropagatorName[]): api.TextMapPropagator {
  return new core.CompositePropagator({
    propagators: names.map((n) => (n === 'tracecontext' ? new core.W3CTraceContextPropagator() : new core.W3CBaggagePropagator())),
  });
}

/** What a context carries that the propagators set: the span context and the baggage entries. */
function extracted(ctx: api.Context): unknown {
  const sc = api.trace.getSpanContext(ctx);
  const baggage = api.propagation.getBaggage(ctx);
  return {
    span: sc === undefined ? undefined : { ...sc, traceState: sc.traceState?.serialize() },
    baggage: baggage === undefined ? undefined : baggage.getAllEntries().map(([k, v]) => [k, v.value]),
  };
}

const CARRIERS: Record<string, Record<string, unknown>> = {
  'no headers': {},
  'other headers only': { host: 'example.com', 'user-agent': 'curl', tracestate: 'a=1' },
  traceparent: { traceparent: TRACEPARENT },
  'traceparent and tracestate': { traceparent: TRACEPARENT, tracestate: 'vendor=1,other=2' },
  'invalid traceparent': { traceparent: 'garbage' },
  'empty traceparent and baggage': { traceparent: '', baggage: '' },
  'traceparent as an array': { traceparent: [TRACEPARENT, 'ignored'] },
  baggage: { baggage: 'user=alice,tier=gold' },
  'baggage as an array': { baggage: ['user=alice', 'tier=gold'] },
  'empty baggage array': { baggage: [] },
  'both headers': { traceparent: TRACEPARENT, baggage: 'user=alice' },
  'Traceparent in another case (not read by the default getter)': { Traceparent: TRACEPARENT },
};

describe('AgentPropagator', () => {
  const kept = api.createContextKey('kept');
  const base = api.ROOT_CONTEXT.setValue(kept, 'yes');
  const selections: PropagatorName[][] = [['tracecontext', 'baggage'], ['baggage', 'tracecontext'], ['tracecontext'], ['baggage'], []];

  for (const names of selections) {
    describe(`OTEL_PROPAGATORS=${names.join(',') || 'none'}`, () => {
      const ours = new AgentPropagator(names);
      const reference = composite(names);

      test('extracts what CompositePropagator extracts, from every carrier, keeping the given context', () => {
        for (const [label, carrier] of Object.entries(CARRIERS)) {
          const got = ours.extract(base, carrier, api.defaultTextMapGetter);
          const want = reference.extract(base, carrier, api.defaultTextMapGetter);
          expect({ label, ...(extracted(got) as object) }).toEqual({ label, ...(extracted(want) as object) });
          expect(got.getValue(kept)).toBe('yes');
        }
      });

      test('fields() and inject() are the composite\'s', () => {
        expect(ours.fields()).toEqual(reference.fields());
        const span = api.trace.wrapSpanContext({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
        let ctx = api.trace.setSpan(api.ROOT_CONTEXT, span);
        ctx = api.propagation.setBaggage(ctx, api.propagation.createBaggage({ user: { value: 'alice' } }));
        const a: Record<string, string> = {};
        const b: Record<string, string> = {};
        ours.inject(ctx, a, api.defaultTextMapSetter);
        reference.inject(ctx, b, api.defaultTextMapSetter);
        expect(a).toEqual(b);
      });
    });
  }

  test('returns the very context it was given when a carrier has neither header', () => {
    const ours = new AgentPropagator(['tracecontext', 'baggage']);
    expect(ours.extract(base, {}, api.defaultTextMapGetter)).toBe(base);
    expect(ours.extract(base, { host: 'x', tracestate: 'a=1' }, api.defaultTextMapGetter)).toBe(base);
    expect(ours.extract(base, { traceparent: TRACEPARENT }, api.defaultTextMapGetter)).not.toBe(base);
    expect(ours.extract(base, { baggage: 'a=1' }, api.defaultTextMapGetter)).not.toBe(base);
    // The shortcut: the composite is consulted only when a header is there.
    const spy = jest.spyOn((ours as unknown as { composite: api.TextMapPropagator }).composite, 'extract');
    ours.extract(base, { host: 'x' }, api.defaultTextMapGetter);
    ours.extract(base, { traceparent: '', baggage: '' }, api.defaultTextMapGetter);
    expect(spy).not.toHaveBeenCalled();
    ours.extract(base, { traceparent: TRACEPARENT }, api.defaultTextMapGetter);
    ours.extract(base, { baggage: 'a=1' }, api.defaultTextMapGetter);
    expect(spy).toHaveBeenCalledTimes(2);
  });

  test('a getter of its own is always asked, through the composite', () => {
    const ours = new AgentPropagator(['tracecontext', 'baggage']);
    const asked: string[] = [];
    const carrier = new Map<string, string>([['traceparent', TRACEPARENT], ['baggage', 'user=alice']]);
    const getter: api.TextMapGetter<Map<string, string>> = {
      keys: (c) => [...c.keys()],
      get: (c, key) => {
        asked.push(key);
        return c.get(key);
      },
    };
    const ctx = ours.extract(base, carrier, getter);
    expect(asked).toEqual(['traceparent', 'tracestate', 'baggage']);
    expect(extracted(ctx)).toEqual({
      span: { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true, traceState: undefined },
      baggage: [['user', 'alice']],
    });
  });

  test('a carrier that is not an object goes through the composite (which returns the context)', () => {
    const ours = new AgentPropagator(['tracecontext', 'baggage']);
    expect(ours.extract(base, null, api.defaultTextMapGetter)).toBe(base);
    expect(ours.extract(base, undefined, api.defaultTextMapGetter)).toBe(base);
    expect(ours.extract(base, 'traceparent', api.defaultTextMapGetter)).toBe(base);
  });
});
