/**
 * The agent's global propagator: W3C trace context and/or W3C baggage, as `OTEL_PROPAGATORS`
 * selects them, composed as `@opentelemetry/core`'s `CompositePropagator` composes them.
 *
 * Most incoming requests carry neither `traceparent` nor `baggage`, and then both propagators
 * return the context they were given. The composite still reads both headers through the getter,
 * allocates a closure for its `reduce` and calls each propagator in a `try`. (Leaving out the
 * http server's `propagation.extract` altogether saved about 3,000 instructions per request,
 * the API's own look-up included: BENCHMARKS.md.) With the API's default getter (a plain
 * property read), this propagator reads the two headers itself first, and returns the context
 * when neither has a value: what the composite would return, after the same reads.
 */
import { defaultTextMapGetter, type Context, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import type { PropagatorName } from './config';

/** The header each propagator reads first, and without which it returns the context as it is. */
const FIRST_HEADER: Readonly<Record<PropagatorName, string>> = {
  tracecontext: 'traceparent',
  baggage: 'baggage',
};

/** `OTEL_PROPAGATORS`' propagators, in order, with a shortcut for a carrier that has none of their headers. */
export class AgentPropagator implements TextMapPropagator {
  private readonly composite: TextMapPropagator;
  /** The headers that must all be empty for extract to change nothing (at most two). */
  private readonly first: string | undefined;
  private readonly second: string | undefined;

  /** @param names the propagators, in `OTEL_PROPAGATORS` order (none for `OTEL_PROPAGATORS=none`). */
  constructor(names: readonly PropagatorName[]) {
    // Loaded only when the agent starts, so a disabled agent costs nothing.
    const core = require('../instrumentations/common/otelCore') as typeof import('../instrumentations/common/otelCore');
    const propagators: TextMapPropagator[] = [];
    const headers: string[] = [];
    for (const name of names) {
      if (name === 'tracecontext') propagators.push(new core.W3CTraceContextPropagator());
      else if (name === 'baggage') propagators.push(new core.W3CBaggagePropagator());
      const header = FIRST_HEADER[name];
      if (!headers.includes(header)) headers.push(header);
    }
    this.composite = new core.CompositePropagator({ propagators });
    this.first = headers[0];
    this.second = headers[1];
  }

  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    this.composite.inject(context, carrier, setter);
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    if (getter === defaultTextMapGetter && carrier !== null && typeof carrier === 'object') {
      const headers = carrier as Record<string, unknown>;
      // Each propagator returns `context` when its header is falsy (absent, empty): so does this.
      const first = this.first;
      const second = this.second;
      if ((first === undefined || !headers[first]) && (second === undefined || !headers[second])) return context;
    }
    return this.composite.extract(context, carrier, getter);
  }

  fields(): string[] {
    return this.composite.fields();
  }
}
