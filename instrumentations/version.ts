/** The version reported as the instrumentation scope version of every instrumentation here. */
export const INSTRUMENTATION_VERSION = '0.1.0';

/** The prefix of every instrumentation scope name (`otlp-mmap/instrumentation-express`, ...). */
export const SCOPE_PREFIX = 'otlp-mmap/instrumentation-';
