//! Span assembly, metric aggregation, logs and OTLP encoding (collector side).
