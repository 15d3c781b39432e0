/**
 * Our http/https instrumentation end to end: fixture apps (tests/fixtures/instr/http/) run real
 * servers and real clients in a child process under the official in-memory SDK, and the spans,
 * duration histograms and what the app itself observed (received headers, active spans) are
 * checked. Each client case in app.cjs runs under its own caller span `case-<name>` and requests
 * its own path, so a case's CLIENT span is the caller's child and its SERVER span is found by
 * url.path. The last group runs one fixture under the official `@opentelemetry/instrumentation-http`
 * as well and compares span names, parents, statuses, attribute keys and histogram points.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildInstrumentations,
  runUnderHarness,
  SPAN_KIND,
  SpanTree,
  type RecordedSpan,
  type Recording,
} from './fixtures/instr/run';

const HTTP_SCOPE = 'otlp-mmap/instrumentation-http';
const STATUS = { UNSET: 0, OK: 1, ERROR: 2 } as const;
const REMOTE_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const REMOTE_SPAN_ID = 'b7ad6b7169203331';

/** What a fixture app wrote into `globalThis.__instrFacts` (plain JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Facts = Record<string, any>;

/** The one CLIENT span under the caller span `case-<name>`. */
function clientOf(tree: SpanTree, name: string): RecordedSpan {
  const caller = tree.one((s) => s.name === `case-${name}`);
  return tree.one((s) => s.kind === SPAN_KIND.CLIENT, tree.childrenOf(caller));
}

/** The `traceparent` a W3C propagator writes for `span` (sampled). */
function traceparentOf(span: RecordedSpan): string {
  return `00-${span.traceId}-${span.spanId}-01`;
}

/** The points of one of our histograms, as `{ attributes, count }`, in a stable order. */
function points(recording: Recording, name: string, scope = HTTP_SCOPE): { attributes: Record<string, unknown>; count?: number }[] {
  const metric = recording.metrics.find((m) => m.name === name && m.scope === scope);
  if (!metric) throw new Error(`no ${name} from ${scope} among ${recording.metrics.map((m) => `${m.scope} ${m.name}`).join(', ')}`);
  expect(metric.unit).toBe('s');
  return sorted(metric.points.map((p) => ({ attributes: p.attributes, count: p.count })));
}

/** A copy of `list` in a stable order (by its JSON), for comparing lists whose order is not defined. */
function sorted<T>(list: T[]): T[] {
  return [...list].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

beforeAll(() => {
  buildInstrumentations();
});

// Under the stock context manager the server span ends from listeners on the response; under
// the agent's, from the response's bound emit (nothing added to the response).
describe.each(['stock', 'agent'] as const)('http instrumentation (app.cjs: one server, many clients), %s context manager', (context) => {
  let recording: Recording;
  let tree: SpanTree;
  let facts: Facts;
  let port: number;

  beforeAll(() => {
    recording = runUnderHarness({ entry: 'http/app.cjs', impl: 'ours', context });
    tree = new SpanTree(recording.spans);
    facts = recording.facts as Facts;
    port = facts.port as number;
  });

  it('runs every case without an internal failure of the instrumentation', () => {
    expect(recording.diag).toEqual([]);
    expect(recording.spans.filter((s) => s.kind !== SPAN_KIND.INTERNAL).every((s) => s.scope === HTTP_SCOPE)).toBe(true);
  });

  describe('server span attributes', () => {
    it('records a request with a query, a user agent and X-Forwarded-For, redacting sig=', () => {
      const span = tree.serverSpan('/attrs');
      expect(span.name).toBe('GET');
      expect(span.kind).toBe(SPAN_KIND.SERVER);
      expect(span.attributes).toEqual({
        'http.request.method': 'GET',
        'url.scheme': 'http',
        'url.path': '/attrs',
        'url.query': 'q=1&sig=REDACTED',
        'server.address': '127.0.0.1',
        'server.port': port,
        'client.address': '203.0.113.9',
        'network.peer.address': '127.0.0.1',
        'network.peer.port': facts.attrs.localPort,
        'network.protocol.version': '1.1',
        'user_agent.original': 'attrs-test/1.0',
        'http.response.status_code': 200,
      });
      expect(span.status).toEqual({ code: STATUS.UNSET });
      expect(span.parentSpanId).toBeUndefined();
    });

    it('prefers Forwarded host= and for= (first element, port stripped) over Host and X-Forwarded-For', () => {
      const span = tree.serverSpan('/forwarded');
      expect(span.attributes).toMatchObject({
        'server.address': 'example.com',
        'server.port': 8443,
        'client.address': '2001:db8::1',
        'network.peer.address': '127.0.0.1',
        'network.peer.port': facts.forwarded.localPort,
      });
    });

    it('takes server.address/port from X-Forwarded-Host before Host', () => {
      expect(tree.serverSpan('/x-forwarded-host').attributes).toMatchObject({ 'server.address': 'proxy.example', 'server.port': 9000 });
    });

    it('parses an IPv6 Host with a port', () => {
      expect(tree.serverSpan('/ipv6-host').attributes).toMatchObject({ 'server.address': '::1', 'server.port': port });
    });

    it('uses the scheme default port for a Host without one, and the request HTTP version', () => {
      expect(tree.serverSpan('/http10').attributes).toMatchObject({
        'server.address': '127.0.0.1',
        'server.port': 80,
        'network.protocol.version': '1.0',
      });
    });

    it('records an unknown method as _OTHER with http.request.method_original and names the span HTTP', () => {
      const span = tree.serverSpan('/purge');
      expect(facts.seen['/purge'].method).toBe('PURGE');
      expect(span.name).toBe('HTTP');
      expect(span.attributes).toMatchObject({ 'http.request.method': '_OTHER', 'http.request.method_original': 'PURGE' });
    });
  });

  describe('propagation', () => {
    it('continues the remote trace of an incoming traceparent', () => {
      const span = tree.serverSpan('/remote-parent');
      expect(facts.seen['/remote-parent'].traceparent).toBe(`00-${REMOTE_TRACE_ID}-${REMOTE_SPAN_ID}-01`);
      expect(span.traceId).toBe(REMOTE_TRACE_ID);
      expect(span.parentSpanId).toBe(REMOTE_SPAN_ID);
    });

    it('injects the client span into the request: the server span is its child', () => {
      const client = clientOf(tree, 'propagate');
      const server = tree.serverSpan('/propagate');
      expect(client.name).toBe('GET');
      expect(client.scope).toBe(HTTP_SCOPE);
      expect(facts.seen['/propagate'].traceparent).toBe(traceparentOf(client));
      expect(tree.parentOf(server)).toBe(client);
      expect(client.attributes).toEqual({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': port,
        'url.full': `http://127.0.0.1:${port}/propagate`,
        'http.response.status_code': 200,
        'network.peer.address': '127.0.0.1',
        'network.peer.port': port,
        'network.protocol.version': '1.1',
      });
      expect(client.status).toEqual({ code: STATUS.UNSET });
    });
  });

  describe('status', () => {
    it('leaves a server 404 UNSET and names the span after the route from the RPC metadata', () => {
      const span = tree.serverSpan('/status/404');
      expect(facts.status404).toBe(404);
      expect(span.name).toBe('GET /status/:code');
      expect(span.attributes).toMatchObject({ 'http.response.status_code': 404, 'http.route': '/status/:code' });
      expect(span.attributes['error.type']).toBeUndefined();
      expect(span.status).toEqual({ code: STATUS.UNSET });
    });

    it('marks a server 500 ERROR with error.type "500"', () => {
      const span = tree.serverSpan('/status/500');
      expect(span.attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': '500', 'http.route': '/status/:code' });
      expect(span.status.code).toBe(STATUS.ERROR);
      expect(span.events).toEqual([]);
    });

    it.each([404, 500])('marks a client %i ERROR with error.type', (code) => {
      const span = clientOf(tree, `status-${code}`);
      expect(span.attributes).toMatchObject({ 'http.response.status_code': code, 'error.type': String(code) });
      expect(span.status.code).toBe(STATUS.ERROR);
      expect(tree.parentOf(tree.serverSpan(`/status/${code}`))).toBe(span);
    });
  });

  describe('errors', () => {
    it('records a refused connection: exception event, error.type, status message', () => {
      const span = clientOf(tree, 'refused');
      expect(facts.refused.code).toBe('ECONNREFUSED');
      expect(span.attributes).toEqual({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': facts.closedPort,
        'url.full': `http://127.0.0.1:${facts.closedPort}/nothing`,
        'error.type': 'ECONNREFUSED',
      });
      expect(span.status).toEqual({ code: STATUS.ERROR, message: facts.refused.message });
      expect(span.events.map((e) => [e.name, e.attributes?.['exception.type']])).toEqual([['exception', 'ECONNREFUSED']]);
    });

    it('fails the server span of a request listener that throws, and the process goes on', () => {
      expect(facts.uncaught).toBe('listener threw');
      expect(facts.throw).toEqual({ status: 500, body: 'recovered' });
      const span = tree.serverSpan('/throw');
      expect(span.status).toEqual({ code: STATUS.ERROR, message: 'listener threw' });
      expect(span.attributes['error.type']).toBe('Error');
      expect(span.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([['exception', 'listener threw']]);
      // The span ended when the listener threw: the response sent later is not on it.
      expect(span.attributes['http.response.status_code']).toBeUndefined();
      expect(tree.parentOf(span)).toBe(clientOf(tree, 'throw'));
    });

    it('ends the server span without a status code when the client leaves before the headers', () => {
      const span = tree.serverSpan('/slow');
      expect(span.attributes['http.response.status_code']).toBeUndefined();
      expect(span.attributes['error.type']).toBeUndefined();
      expect(span.status).toEqual({ code: STATUS.UNSET });
    });

    it('fails the client span of req.destroy() before a response (socket hang up)', () => {
      const span = clientOf(tree, 'destroy');
      expect(facts.destroy).toEqual({ events: ['error ECONNRESET'], activeAfter: 'case-destroy' });
      expect(span.status).toEqual({ code: STATUS.ERROR, message: 'socket hang up' });
      expect(span.attributes['error.type']).toBe('ECONNRESET');
      expect(span.attributes['http.response.status_code']).toBeUndefined();
      expect(span.events.map((e) => e.name)).toEqual(['exception']);
      expect(tree.parentOf(tree.serverSpan('/slow'))).toBe(span);
    });

    it('fails a request destroyed before it connected, and no server span exists for it', () => {
      const span = clientOf(tree, 'destroy-early');
      expect(facts.destroyEarly).toEqual(['error ECONNRESET']);
      expect(span.attributes).toMatchObject({ 'url.full': `http://127.0.0.1:${port}/never`, 'error.type': 'ECONNRESET' });
      expect(span.status.code).toBe(STATUS.ERROR);
      expect(recording.spans.some((s) => s.attributes['url.path'] === '/never')).toBe(false);
    });

    it('a response aborted mid-body: the client span fails, the server span keeps the status it sent', () => {
      expect(facts.abortMidBody.slice(0, 2)).toEqual(['response 200', 'response aborted']);
      const client = clientOf(tree, 'abort-mid-body');
      expect(client.attributes).toMatchObject({ 'http.response.status_code': 200, 'error.type': '_OTHER' });
      expect(client.status).toEqual({ code: STATUS.ERROR, message: 'response aborted' });
      const server = tree.serverSpan('/slow-headers');
      expect(server.attributes['http.response.status_code']).toBe(200);
      expect(server.status).toEqual({ code: STATUS.UNSET });
    });
  });

  describe('argument forms of http.request / http.get', () => {
    it('http.get(urlString, cb) is traced with the port and query of the URL, and sends its traceparent', () => {
      const span = clientOf(tree, 'get-string');
      expect(facts.forms.getString).toEqual({ status: 200, body: 'ok /form/get-string' });
      expect(span.attributes).toMatchObject({ 'url.full': `http://127.0.0.1:${port}/form/get-string?x=1`, 'server.port': port });
      expect(facts.seen['/form/get-string'].traceparent).toBe(traceparentOf(span));
    });

    it('http.request(new URL(...), options, cb) takes the method and user agent from the options', () => {
      const span = clientOf(tree, 'url-options');
      expect(facts.forms.urlOptions).toEqual({ status: 200, body: 'ok /form/url-options' });
      expect(span.name).toBe('POST');
      expect(span.attributes).toMatchObject({
        'http.request.method': 'POST',
        'url.full': `http://127.0.0.1:${port}/form/url-options`,
        'user_agent.original': 'forms/1.0',
      });
      expect(tree.parentOf(tree.serverSpan('/form/url-options'))).toBe(span);
    });

    it('headers given as an array: the request succeeds and is traced, but nothing is injected (Node sends such headers at once)', () => {
      const span = clientOf(tree, 'array-headers');
      expect(facts.forms.arrayHeaders).toEqual({ status: 200, body: 'ok /form/array-headers' });
      expect(span.attributes['http.response.status_code']).toBe(200);
      expect(span.status).toEqual({ code: STATUS.UNSET });
      expect(facts.seen['/form/array-headers'].traceparent).toBeUndefined();
      const server = tree.serverSpan('/form/array-headers');
      expect(server.parentSpanId).toBeUndefined();
      expect(server.traceId).not.toBe(span.traceId);
    });

    it('a request nobody listens to the response of completes, and its span ends', () => {
      // The one 'response' listener is the instrumentation's; it drains the body as Node would.
      expect(facts.forms.noListener).toEqual({ listeners: 1 });
      const span = clientOf(tree, 'no-listener');
      expect(span.attributes['http.response.status_code']).toBe(200);
      expect(span.status).toEqual({ code: STATUS.UNSET });
      expect(tree.parentOf(tree.serverSpan('/form/no-listener'))).toBe(span);
    });

    it('credentials in the URL are sent but not recorded in url.full', () => {
      expect(facts.forms.credentials.auth).toBe(`Basic ${Buffer.from('user:secret').toString('base64')}`);
      expect(clientOf(tree, 'credentials').attributes['url.full']).toBe(`http://127.0.0.1:${port}/form/credentials`);
    });

    it('http.get with agent: false is traced like any other request', () => {
      const span = clientOf(tree, 'agent-false');
      expect(facts.forms.agentFalse.status).toBe(200);
      expect(span.attributes).toMatchObject({ 'http.response.status_code': 200, 'server.port': port });
      expect(tree.parentOf(tree.serverSpan('/form/agent-false'))).toBe(span);
    });

    it('a keep-alive Agent: one span per request on the reused socket', () => {
      expect(facts.forms.keepAlive.map((r: Facts) => [r.status, r.reusedSocket])).toEqual([
        [200, false],
        [200, true],
      ]);
      const caller = tree.one((s) => s.name === 'case-keep-alive');
      const spans = tree.childrenOf(caller).filter((s) => s.kind === SPAN_KIND.CLIENT);
      expect(spans.map((s) => s.attributes['url.full']).sort()).toEqual([
        `http://127.0.0.1:${port}/form/keep-alive-1`,
        `http://127.0.0.1:${port}/form/keep-alive-2`,
      ]);
      for (const n of [1, 2]) {
        const client = spans.find((s) => s.attributes['url.full'] === `http://127.0.0.1:${port}/form/keep-alive-${n}`)!;
        expect(client.status).toEqual({ code: STATUS.UNSET });
        expect(facts.seen[`/form/keep-alive-${n}`].traceparent).toBe(traceparentOf(client));
      }
    });

    it('a protocol upgrade (101) handed to an upgrade listener is not a failure', () => {
      expect(facts.upgrade).toEqual({ status: 101, active: 'case-upgrade' });
      const span = clientOf(tree, 'upgrade');
      expect(span.attributes).toMatchObject({ 'http.response.status_code': 101, 'network.protocol.version': '1.1' });
      expect(span.attributes['error.type']).toBeUndefined();
      expect(span.status).toEqual({ code: STATUS.UNSET });
    });

    it('a CONNECT tunnel handed to a connect listener is not a failure', () => {
      expect(facts.connect).toEqual({ status: 200, active: 'case-connect' });
      const span = clientOf(tree, 'connect');
      expect(span.name).toBe('CONNECT');
      // The target URI of an authority-form request is the tunnel's (RFC 9112, 3.3); the
      // connection goes to the proxy.
      expect(span.attributes).toMatchObject({
        'http.request.method': 'CONNECT',
        'http.response.status_code': 200,
        'url.full': 'http://tunnel.example:443',
        'server.address': '127.0.0.1',
        'server.port': port,
      });
      expect(span.attributes['error.type']).toBeUndefined();
      expect(span.status).toEqual({ code: STATUS.UNSET });
    });

    it('an absolute-form target (forward proxy) is url.full as sent, without its credentials, its signature redacted', () => {
      expect(facts.absoluteForm.status).toBe(200);
      const span = clientOf(tree, 'absolute-form');
      expect(span.attributes).toMatchObject({ 'url.full': 'http://proxied.example/abs?sig=REDACTED&x=1', 'server.address': '127.0.0.1', 'server.port': port });
      const server = tree.one((s) => s.kind === SPAN_KIND.SERVER && s.parentSpanId === span.spanId);
      expect(server.attributes).toMatchObject({ 'url.path': '/abs', 'url.query': 'sig=REDACTED&x=1' });
    });

    it('an asterisk-form target (OPTIONS *) is url.full of the origin alone', () => {
      const span = clientOf(tree, 'asterisk-form');
      expect(span.attributes).toMatchObject({ 'http.request.method': 'OPTIONS', 'url.full': `http://127.0.0.1:${port}` });
      const server = tree.one((s) => s.kind === SPAN_KIND.SERVER && s.parentSpanId === span.spanId);
      expect(server.attributes['url.path']).toBe('*');
    });
  });

  describe('context', () => {
    it('the server span is active in the request listener, req data/end and res finish/close listeners', () => {
      for (const urlPath of ['/attrs', '/form/url-options', '/ctx']) {
        const span = tree.serverSpan(urlPath);
        const seen = facts.seen[urlPath];
        expect(seen.activeInHandler).toBe(span.spanId);
        expect(seen.activeInEnd).toBe(span.spanId);
        expect(seen.activeInFinish).toBe(span.spanId);
        expect(seen.activeInClose).toBe(span.spanId);
      }
      expect(facts.seen['/ctx'].activeInData).toBe(tree.serverSpan('/ctx').spanId);
      // Closed by the client going away, not by the app's res.end().
      expect(facts.seen['/slow'].activeInClose).toBe(tree.serverSpan('/slow').spanId);
    });

    it("the caller's span, not the client span, is active in the callback and the request and response listeners", () => {
      expect(facts.clientContext).toEqual({
        inFinish: 'case-client-context',
        inResponseListener: 'case-client-context',
        inCallback: 'case-client-context',
        inData: 'case-client-context',
        inEnd: 'case-client-context',
      });
      expect(facts.refused.activeInError).toBe('case-refused');
      expect(clientOf(tree, 'client-context').name).toBe('POST');
    });

    it('two callers sharing a one-socket agent each see their own span, though the second request waits for the first', () => {
      for (const name of ['a', 'b']) {
        const caller = `case-queued-${name}`;
        expect(facts.queued[name]).toMatchObject({ inResponseListener: caller, inCallback: caller, inData: caller, inEnd: caller });
        const client = clientOf(tree, `queued-${name}`);
        expect(facts.seen[`/queued-${name}`].traceparent).toBe(traceparentOf(client));
      }
    });
  });

  describe('suppressTracing', () => {
    it('makes no client span and sends no traceparent; the server still traces its side', () => {
      expect(facts.suppressed).toEqual({ status: 200, body: 'ok /suppressed' });
      const caller = tree.one((s) => s.name === 'case-suppressed');
      expect(tree.childrenOf(caller)).toEqual([]);
      expect(tree.traceOf(caller)).toEqual([caller]);
      expect(facts.seen['/suppressed'].traceparent).toBeUndefined();
      expect(tree.serverSpan('/suppressed').parentSpanId).toBeUndefined();
    });
  });

  describe('duration histograms', () => {
    it('http.server.request.duration: method, scheme, protocol version, status, route when known, error.type on 5xx and failures', () => {
      const base = { 'http.request.method': 'GET', 'url.scheme': 'http', 'network.protocol.version': '1.1' };
      expect(points(recording, 'http.server.request.duration')).toEqual(
        sorted([
          // attrs, forwarded, ipv6-host, x-forwarded-host, remote-parent, propagate, slow-headers, the
          // five GET forms, the two keep-alive and the two queued requests, suppressed, absolute-form
          { attributes: { ...base, 'http.response.status_code': 200 }, count: 18 },
          { attributes: { ...base, 'http.request.method': 'OPTIONS', 'http.response.status_code': 200 }, count: 1 }, // asterisk-form
          { attributes: { ...base, 'network.protocol.version': '1.0', 'http.response.status_code': 200 }, count: 1 },
          { attributes: { ...base, 'http.request.method': '_OTHER', 'http.response.status_code': 200 }, count: 1 },
          { attributes: { ...base, 'http.request.method': 'POST', 'http.response.status_code': 200 }, count: 2 },
          { attributes: { ...base, 'http.response.status_code': 404, 'http.route': '/status/:code' }, count: 1 },
          { attributes: { ...base, 'http.response.status_code': 500, 'http.route': '/status/:code', 'error.type': '500' }, count: 1 },
          { attributes: { ...base, 'error.type': 'Error' }, count: 1 }, // the listener threw
          { attributes: base, count: 1 }, // the client left before the headers
        ]),
      );
      const serverSpans = recording.spans.filter((s) => s.kind === SPAN_KIND.SERVER);
      expect(serverSpans).toHaveLength(27);
    });

    it('http.client.request.duration: method, server address and port, status, protocol version, error.type', () => {
      const base = { 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': port };
      const ok = { ...base, 'http.response.status_code': 200, 'network.protocol.version': '1.1' };
      expect(points(recording, 'http.client.request.duration')).toEqual(
        sorted([
          // propagate, get-string, array-headers, no-listener, credentials, agent-false, keep-alive x2, queued x2,
          // absolute-form
          { attributes: ok, count: 11 },
          { attributes: { ...ok, 'http.request.method': 'OPTIONS' }, count: 1 }, // asterisk-form
          { attributes: { ...ok, 'http.request.method': 'POST' }, count: 2 },
          { attributes: { ...ok, 'http.response.status_code': 404, 'error.type': '404' }, count: 1 },
          { attributes: { ...ok, 'http.response.status_code': 500, 'error.type': '500' }, count: 2 }, // status-500, throw
          { attributes: { ...ok, 'error.type': '_OTHER' }, count: 1 }, // aborted mid-body
          { attributes: { ...ok, 'http.response.status_code': 101 }, count: 1 },
          { attributes: { ...ok, 'http.request.method': 'CONNECT' }, count: 1 },
          { attributes: { ...base, 'error.type': 'ECONNRESET' }, count: 2 }, // destroy, destroy-early
          { attributes: { ...base, 'server.port': facts.closedPort, 'error.type': 'ECONNREFUSED' }, count: 1 },
        ]),
      );
      expect(recording.spans.filter((s) => s.kind === SPAN_KIND.CLIENT)).toHaveLength(23);
    });
  });
});

describe('OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS (methods.cjs)', () => {
  const summary = (recording: Recording) =>
    recording.spans
      .filter((s) => s.kind !== SPAN_KIND.INTERNAL)
      .map((s) => [s.kind, s.name, s.attributes['http.request.method'], s.attributes['http.request.method_original']])
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

  it('by default, PURGE is _OTHER on both sides (span name HTTP, method_original PURGE)', () => {
    const recording = runUnderHarness({ entry: 'http/methods.cjs', impl: 'ours' });
    expect(recording.facts.seen).toEqual(['PURGE', 'POST']);
    expect(summary(recording)).toEqual(
      sorted([
        [SPAN_KIND.SERVER, 'HTTP', '_OTHER', 'PURGE'],
        [SPAN_KIND.CLIENT, 'HTTP', '_OTHER', 'PURGE'],
        [SPAN_KIND.SERVER, 'POST', 'POST', undefined],
        [SPAN_KIND.CLIENT, 'POST', 'POST', undefined],
      ]),
    );
  });

  it('GET,PURGE keeps PURGE and makes POST unknown', () => {
    const recording = runUnderHarness({
      entry: 'http/methods.cjs',
      impl: 'ours',
      env: { OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS: 'GET,PURGE' },
    });
    expect(summary(recording)).toEqual(
      sorted([
        [SPAN_KIND.SERVER, 'PURGE', 'PURGE', undefined],
        [SPAN_KIND.CLIENT, 'PURGE', 'PURGE', undefined],
        [SPAN_KIND.SERVER, 'HTTP', '_OTHER', 'POST'],
        [SPAN_KIND.CLIENT, 'HTTP', '_OTHER', 'POST'],
      ]),
    );
    expect(points(recording, 'http.server.request.duration').map((p) => p.attributes['http.request.method']).sort()).toEqual(['PURGE', '_OTHER']);
    expect(points(recording, 'http.client.request.duration').map((p) => p.attributes['http.request.method']).sort()).toEqual(['PURGE', '_OTHER']);
  });
});

describe('https (https.cjs, self-signed certificate made by openssl)', () => {
  let recording: Recording;
  let tree: SpanTree;
  let facts: Facts;
  let port: number;
  let certDir: string;

  beforeAll(() => {
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-https-'));
    execFileSync(
      '/usr/bin/openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
        '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')],
      { stdio: 'pipe' },
    );
    recording = runUnderHarness({ entry: 'http/https.cjs', impl: 'ours', env: { CERT_DIR: certDir } });
    tree = new SpanTree(recording.spans);
    facts = recording.facts as Facts;
    port = facts.port as number;
  });

  afterAll(() => {
    if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
  });

  it('https.get(urlString, options, cb): url.scheme https on the server, url.full https://... on the client, linked', () => {
    expect(facts.get).toEqual({ status: 200, body: 'secure', activeInEnd: 'case-https-get' });
    const client = clientOf(tree, 'https-get');
    const server = tree.serverSpan('/secure');
    expect(client.attributes).toMatchObject({
      'url.full': `https://127.0.0.1:${port}/secure?sig=REDACTED&x=1`,
      'server.address': '127.0.0.1',
      'server.port': port,
      'http.response.status_code': 200,
    });
    expect(server.attributes).toMatchObject({ 'url.scheme': 'https', 'url.query': 'sig=REDACTED&x=1', 'server.port': port });
    expect(facts.received['/secure']).toEqual({ traceparent: traceparentOf(client), encrypted: true });
    expect(tree.parentOf(server)).toBe(client);
  });

  it('https.request(options, cb) with a body', () => {
    expect(facts.request).toEqual({ status: 200, body: 'secure', activeInEnd: 'case-https-request' });
    const client = clientOf(tree, 'https-request');
    expect(client.name).toBe('POST');
    expect(client.attributes['url.full']).toBe(`https://127.0.0.1:${port}/secure-post`);
    expect(tree.parentOf(tree.serverSpan('/secure-post'))).toBe(client);
  });

  it('fails the client span when the certificate is not trusted', () => {
    expect(facts.untrusted).toEqual({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', activeInError: 'case-https-untrusted' });
    const client = clientOf(tree, 'https-untrusted');
    expect(client.attributes).toMatchObject({ 'url.full': `https://127.0.0.1:${port}/untrusted`, 'error.type': 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(client.status.code).toBe(STATUS.ERROR);
    expect(client.events.map((e) => e.name)).toEqual(['exception']);
    expect(recording.spans.some((s) => s.attributes['url.path'] === '/untrusted')).toBe(false);
  });

  it('records url.scheme https in the server histogram', () => {
    expect(points(recording, 'http.server.request.duration').map((p) => [p.attributes['url.scheme'], p.attributes['http.request.method']])).toEqual([
      ['https', 'GET'],
      ['https', 'POST'],
    ]);
  });
});

describe('ES modules (esm.mjs)', () => {
  it('instruments the default import and the named imports get and request of node:http', () => {
    const recording = runUnderHarness({ entry: 'http/esm.mjs', impl: 'ours' });
    const tree = new SpanTree(recording.spans);
    const facts = recording.facts as Facts;
    const caller = tree.one((s) => s.name === 'case-esm');
    const clients = tree.childrenOf(caller);
    for (const urlPath of ['/named-get', '/named-request', '/default-get']) {
      const client = tree.one((s) => s.attributes['url.full'] === `http://127.0.0.1:${facts.port}${urlPath}`, clients);
      expect(client.kind).toBe(SPAN_KIND.CLIENT);
      expect(facts.received[urlPath].traceparent).toBe(traceparentOf(client));
      expect(tree.parentOf(tree.serverSpan(urlPath))).toBe(client);
    }
    expect(clients).toHaveLength(3);
  });
});

describe('parity with @opentelemetry/instrumentation-http 0.223 (plain.cjs)', () => {
  let ours: Recording;
  let official: Recording;

  beforeAll(() => {
    ours = runUnderHarness({ entry: 'http/plain.cjs', impl: 'ours' });
    official = runUnderHarness({ entry: 'http/plain.cjs', impl: 'official' });
  });

  /**
   * Name, parent name, status and sorted attribute keys of the span of `kind` for a request path
   * (`url.path` on the server, the end of `url.full` on the client).
   */
  function shapeOf(recording: Recording, kind: number, target: string) {
    const tree = new SpanTree(recording.spans);
    const span = tree.one((s) =>
      s.kind === kind && (kind === SPAN_KIND.SERVER ? s.attributes['url.path'] === target.split('?')[0] : String(s.attributes['url.full']).endsWith(target)),
    );
    return {
      name: span.name,
      parent: tree.parentOf(span)?.name,
      status: span.status.code,
      keys: Object.keys(span.attributes).sort(),
    };
  }

  it('serves the same responses', () => {
    expect(ours.facts.statuses).toEqual([200, 500]);
    expect(official.facts.statuses).toEqual([200, 500]);
  });

  it.each([
    ['server', SPAN_KIND.SERVER],
    ['client', SPAN_KIND.CLIENT],
  ])('a plain GET: the same %s span name, parent, status and attribute keys', (_side, kind) => {
    const shape = shapeOf(ours, kind, '/plain?x=1');
    expect(shape).toEqual(shapeOf(official, kind, '/plain?x=1'));
    expect(shape.keys).toContain('user_agent.original');
  });

  it.each([
    ['server', SPAN_KIND.SERVER],
    ['client', SPAN_KIND.CLIENT],
  ])('a 500: the same %s span up to error.type, which only ours puts on the span', (_side, kind) => {
    const mine = shapeOf(ours, kind, '/fail');
    const theirs = shapeOf(official, kind, '/fail');
    expect(theirs.keys).not.toContain('error.type');
    expect(mine).toEqual({ ...theirs, keys: [...theirs.keys, 'error.type'].sort() });
    expect(mine.status).toBe(STATUS.ERROR);
  });

  it.each(['http.server.request.duration', 'http.client.request.duration'])('%s: the same points, attribute keys and values', (name) => {
    // The two runs listen on different ports.
    const portless = (recording: Recording, scope: string) =>
      sorted(
        points(recording, name, scope).map((p) =>
          'server.port' in p.attributes ? { ...p, attributes: { ...p.attributes, 'server.port': 'the port' } } : p,
        ),
      );
    expect(portless(ours, HTTP_SCOPE)).toEqual(portless(official, '@opentelemetry/instrumentation-http'));
  });
});

describe('parseHost (server.address / server.port from Host)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parseHost } = require('../instrumentations/http/semconv') as typeof import('../instrumentations/http/semconv');
  const cases: [string, { host: string; port: number | undefined } | undefined][] = [
    ['example.com', { host: 'example.com', port: undefined }],
    ['example.com:8080', { host: 'example.com', port: 8080 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
    ['[::1]', { host: '::1', port: undefined }],
    ['::1', { host: '::1', port: undefined }],
    ['example.com:99999', { host: 'example.com', port: undefined }],
    ['[::1', undefined],
    ['', undefined],
  ];

  it.each(cases)('%j', (value, expected) => {
    expect(parseHost(value)).toEqual(expected);
  });

  it('answers right when the same value repeats and when values alternate (the last one is remembered)', () => {
    for (let round = 0; round < 3; round++) {
      for (const [value, expected] of cases) {
        expect(parseHost(value)).toEqual(expected);
        expect(parseHost(value)).toEqual(expected);
      }
    }
  });
});
