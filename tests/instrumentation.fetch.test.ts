/**
 * Node's global fetch (undici) in a child process with the official in-memory SDK:
 * a CLIENT span per request, `traceparent` injected so the server's span is its
 * child, errors, and the duration histogram.
 */
import { buildInstrumentations, runUnderHarness, SPAN_KIND, SpanTree, type Recording } from './fixtures/instr/run';

let recording: Recording;
let tree: SpanTree;

beforeAll(() => {
  buildInstrumentations();
  recording = runUnderHarness({ entry: 'fetch.cjs', impl: 'ours' });
  tree = new SpanTree(recording.spans);
});

describe('fetch instrumentation', () => {
  it('makes a CLIENT span under the caller and injects its traceparent', () => {
    const caller = tree.one((s) => s.name === 'fetch-caller');
    const [ok, missing] = tree
      .childrenOf(caller)
      .sort((a, b) => String(a.attributes['url.full']).localeCompare(String(b.attributes['url.full'])));
    expect(ok.kind).toBe(SPAN_KIND.CLIENT);
    expect(ok.name).toBe('GET');
    expect(ok.scope).toBe('otlp-mmap/instrumentation-fetch');
    const received = recording.facts.received as { url: string; traceparent?: string }[];
    expect(received[0].traceparent).toBe(`00-${ok.traceId}-${ok.spanId}-01`);
    expect(received[1].traceparent).toBe(`00-${missing.traceId}-${missing.spanId}-01`);
    // The server's span (http instrumentation) continues the trace under the fetch span.
    const serverSpan = tree.one((s) => s.kind === SPAN_KIND.SERVER && s.attributes['url.path'] === '/hello');
    expect(tree.parentOf(serverSpan)).toBe(ok);
    expect(recording.facts.activeAfterFetch).toBe('fetch-caller');
    expect(recording.facts.okBody).toBe('hello');
  });

  it('sets the HTTP client attributes, with signature query values redacted', () => {
    const ok = tree.one((s) => s.kind === SPAN_KIND.CLIENT && s.attributes['http.response.status_code'] === 200);
    const port = recording.facts.port as number;
    expect(ok.attributes).toEqual({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': port,
      'url.full': `http://127.0.0.1:${port}/hello?q=1&sig=REDACTED`,
      'http.response.status_code': 200,
    });
    expect(ok.status.code).toBe(0);
  });

  it('marks a 4xx response as an error with error.type', () => {
    const missing = tree.one((s) => s.kind === SPAN_KIND.CLIENT && s.attributes['http.response.status_code'] === 404);
    expect(missing.name).toBe('POST');
    expect(missing.status.code).toBe(2);
    expect(missing.attributes['error.type']).toBe('404');
    expect(recording.facts.missingStatus).toBe(404);
  });

  it('records a refused connection: status, error.type, exception event', () => {
    const caller = tree.one((s) => s.name === 'fetch-refused');
    const [refused] = tree.childrenOf(caller);
    expect(refused.kind).toBe(SPAN_KIND.CLIENT);
    expect(refused.status.code).toBe(2);
    expect(refused.attributes['error.type']).toBe('ECONNREFUSED');
    expect(refused.events.map((e) => e.name)).toEqual(['exception']);
    expect(recording.facts.refusedError).toBe('ECONNREFUSED');
  });

  it('is not also traced by the http instrumentation', () => {
    const clientSpans = recording.spans.filter((s) => s.kind === SPAN_KIND.CLIENT);
    expect(clientSpans.map((s) => s.scope)).toEqual([
      'otlp-mmap/instrumentation-fetch',
      'otlp-mmap/instrumentation-fetch',
      'otlp-mmap/instrumentation-fetch',
    ]);
  });

  it('records http.client.request.duration per request', () => {
    const metric = recording.metrics.find(
      (m) => m.name === 'http.client.request.duration' && m.scope === 'otlp-mmap/instrumentation-fetch',
    );
    expect(metric?.unit).toBe('s');
    const byStatus = metric?.points
      .map((p) => [p.attributes['http.request.method'], p.attributes['http.response.status_code'], p.attributes['error.type'], p.count])
    expect(byStatus).toHaveLength(3);
    expect(byStatus).toEqual(expect.arrayContaining([
      ['GET', 200, undefined, 1],
      ['GET', undefined, 'ECONNREFUSED', 1],
      ['POST', 404, '404', 1],
    ]));
  });
});
