/**
 * The parts of `@opentelemetry/core` the agent uses, each from its own file in the package.
 *
 * The package's index loads all of it (clocks, environment parsing, the SDK info, export
 * helpers, ...). That stays alive for the process's whole life, ~1,550 more live objects in the
 * agent than these files alone, and every full GC of the app marks them again (BENCHMARKS.md,
 * fourteenth session). These files are the package's own implementations: the W3C propagators
 * and the context keys other OpenTelemetry code reads (`Symbol.for` keys, so a copy of the
 * package loaded by the app sees the same values). `tests/agent.bundle.test.ts` checks that the
 * agent's bundle holds no other part of the package.
 */
export { RPCType, getRPCMetadata, setRPCMetadata } from '@opentelemetry/core/build/src/trace/rpc-metadata';
export type { RPCMetadata } from '@opentelemetry/core/build/src/trace/rpc-metadata';
export { isTracingSuppressed } from '@opentelemetry/core/build/src/trace/suppress-tracing';
export { W3CTraceContextPropagator } from '@opentelemetry/core/build/src/trace/W3CTraceContextPropagator';
export { W3CBaggagePropagator } from '@opentelemetry/core/build/src/baggage/propagation/W3CBaggagePropagator';
export { CompositePropagator } from '@opentelemetry/core/build/src/propagation/composite';
