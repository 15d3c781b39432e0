/**
 * The agent's pure parts, in process: configuration from the environment, samplers, ids,
 * resource detection helpers, time conversion and the aggregation chosen per instrument.
 */
import { loadConfig, defaultDirectory, fileNameFor } from '../agent/config';
import { createSampler, traceIdRatio } from '../agent/sampler';
import { hexOf, IdGenerator } from '../agent/ids';
import { containerIdFrom, detectResource } from '../agent/resource';
import { toNanos } from '../agent/time';
import { aggregationFor } from '../agent/metrics';
import { applyLimits } from '../agent/attributes';
import { supportsSyncHooks } from '../agent/esm-hooks';
import * as os from 'node:os';
import * as path from 'node:path';

describe('configuration from the environment', () => {
  test('defaults follow the specification', () => {
    const c = loadConfig({});
    expect(c.disabled).toBe(false);
    expect(c.sampler).toBe('parentbased_always_on');
    expect(c.propagators).toEqual(['tracecontext', 'baggage']);
    expect(c.enabledInstrumentations).toBeNull();
    expect([...c.disabledInstrumentations]).toEqual([]);
    expect(c.spanLimits).toEqual({
      attributeValueLengthLimit: Infinity,
      attributeCountLimit: 128,
      eventCountLimit: 128,
      linkCountLimit: 128,
      attributePerEventCountLimit: 128,
      attributePerLinkCountLimit: 128,
    });
    expect(c.temporalityPreference).toBe('cumulative');
    expect(c.histogramAggregation).toBe('explicit_bucket_histogram');
    expect(c.metricExportIntervalMs).toBe(60000);
    expect(c.file.directory).toBe(path.join(os.tmpdir(), 'otlp-mmap'));
    expect(c.file.directory).toBe(defaultDirectory());
    expect(c.file.explicitPath).toBeUndefined();
    expect(c.signals).toEqual({ traces: true, metrics: true, logs: true });
    expect(c.warnings).toEqual([]);
  });

  test('OTEL_{TRACES,METRICS,LOGS}_EXPORTER=none turns a signal off; other exporters record and say where export is chosen', () => {
    expect(loadConfig({ OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'None', OTEL_LOGS_EXPORTER: ' none ' }).signals).toEqual({
      traces: false,
      metrics: false,
      logs: false,
    });
    const c = loadConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_METRICS_EXPORTER: 'prometheus', OTEL_LOGS_EXPORTER: 'console' });
    expect(c.signals).toEqual({ traces: true, metrics: true, logs: true });
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toContain('OTEL_METRICS_EXPORTER="prometheus"');
    // "none" next to a real exporter is not "no exporter".
    expect(loadConfig({ OTEL_TRACES_EXPORTER: 'none,otlp' }).signals.traces).toBe(true);
  });

  test('reads every variable', () => {
    const c = loadConfig({
      OTEL_SDK_DISABLED: 'TRUE',
      OTEL_SERVICE_NAME: 'checkout',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=pod%201,deployment.environment=prod , team=a%2Cb',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_PROPAGATORS: 'baggage,tracecontext',
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http, Express',
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg',
      OTEL_LOG_LEVEL: 'debug',
      OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '100',
      OTEL_ATTRIBUTE_COUNT_LIMIT: '50',
      OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '20',
      OTEL_SPAN_EVENT_COUNT_LIMIT: '3',
      OTEL_SPAN_LINK_COUNT_LIMIT: '4',
      OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT: '5',
      OTEL_LINK_ATTRIBUTE_COUNT_LIMIT: '6',
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta',
      OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: 'base2_exponential_bucket_histogram',
      OTEL_METRIC_EXPORT_INTERVAL: '1500',
      OTLP_MMAP_DIR: '/var/run/otlp',
      SDK_MMAP_EXPORTER_FILE: '/data/app.mmap',
      OTLP_MMAP_FILE_MODE: '0644',
      OTLP_MMAP_SLOTS: '1024',
      OTLP_MMAP_SPAN_SLOTS: '4096',
      OTLP_MMAP_SPAN_SLOT_SIZE: '1024',
      OTLP_MMAP_EVENT_SLOT_SIZE: '2048',
      OTLP_MMAP_MEASUREMENT_SLOTS: '256',
      OTLP_MMAP_DICTIONARY_BYTES: '65536',
      OTLP_MMAP_MAX_DICTIONARY_BYTES: '1048576',
    });
    expect(c.warnings).toEqual([]);
    expect(c.disabled).toBe(true);
    expect(c.serviceName).toBe('checkout');
    expect(c.resourceAttributes).toEqual({ 'k8s.pod.name': 'pod 1', 'deployment.environment': 'prod', team: 'a,b' });
    expect(c.sampler).toBe('parentbased_traceidratio');
    expect(c.samplerRatio).toBe(0.25);
    expect(c.propagators).toEqual(['baggage', 'tracecontext']);
    expect([...(c.enabledInstrumentations ?? [])]).toEqual(['http', 'express']);
    expect([...c.disabledInstrumentations]).toEqual(['pg']);
    expect(c.logLevel).toBe('debug');
    expect(c.spanLimits).toEqual({
      attributeValueLengthLimit: 100,
      attributeCountLimit: 20,
      eventCountLimit: 3,
      linkCountLimit: 4,
      attributePerEventCountLimit: 5,
      attributePerLinkCountLimit: 6,
    });
    expect(c.logRecordLimits).toEqual({ attributeValueLengthLimit: 100, attributeCountLimit: 50 });
    expect(c.temporalityPreference).toBe('delta');
    expect(c.histogramAggregation).toBe('base2_exponential_bucket_histogram');
    expect(c.metricExportIntervalMs).toBe(1500);
    expect(c.file).toEqual({
      directory: '/var/run/otlp',
      explicitPath: '/data/app.mmap',
      mode: 0o644,
      slots: 1024,
      slotSize: undefined,
      events: { slots: undefined, slotSize: 2048 },
      spans: { slots: 4096, slotSize: 1024 },
      measurements: { slots: 256, slotSize: undefined },
      dictionaryBytes: 65536,
      maxDictionaryBytes: 1048576,
    });
  });

  test('OTLP_MMAP_FILE wins over SDK_MMAP_EXPORTER_FILE', () => {
    expect(loadConfig({ OTLP_MMAP_FILE: '/a', SDK_MMAP_EXPORTER_FILE: '/b' }).file.explicitPath).toBe('/a');
  });

  test('OTEL_PROPAGATORS=none turns propagation off', () => {
    expect(loadConfig({ OTEL_PROPAGATORS: 'none' }).propagators).toEqual([]);
  });

  test('a bad value gives one warning naming the variable and the default, never a throw', () => {
    const c = loadConfig({
      OTEL_SDK_DISABLED: 'yes',
      OTEL_TRACES_SAMPLER: 'sometimes',
      OTEL_TRACES_SAMPLER_ARG: '1.5',
      OTEL_LOG_LEVEL: 'loud',
      OTEL_SPAN_EVENT_COUNT_LIMIT: '-3',
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'weekly',
      OTEL_METRIC_EXPORT_INTERVAL: 'soon',
      OTLP_MMAP_SPAN_SLOTS: '1000',
      OTLP_MMAP_SLOT_SIZE: '100',
      OTLP_MMAP_FILE_MODE: 'rw',
      OTEL_PROPAGATORS: 'tracecontext,b3',
      OTEL_RESOURCE_ATTRIBUTES: 'ok=1,broken,bad=%zz',
    });
    expect(c.disabled).toBe(false);
    expect(c.sampler).toBe('parentbased_always_on');
    expect(c.logLevel).toBe('info');
    expect(c.spanLimits.eventCountLimit).toBe(128);
    expect(c.temporalityPreference).toBe('cumulative');
    expect(c.metricExportIntervalMs).toBe(60000);
    expect(c.file.spans.slots).toBeUndefined();
    expect(c.file.slotSize).toBeUndefined();
    expect(c.file.mode).toBeUndefined();
    expect(c.propagators).toEqual(['tracecontext']);
    expect(c.resourceAttributes).toEqual({ ok: '1' });
    const names = [
      'OTEL_SDK_DISABLED',
      'OTEL_TRACES_SAMPLER=',
      'OTEL_LOG_LEVEL',
      'OTEL_SPAN_EVENT_COUNT_LIMIT',
      'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
      'OTEL_METRIC_EXPORT_INTERVAL',
      'OTLP_MMAP_SPAN_SLOTS',
      'OTLP_MMAP_SLOT_SIZE',
      'OTLP_MMAP_FILE_MODE',
      'OTEL_PROPAGATORS',
    ];
    for (const n of names) expect(c.warnings.filter((w) => w.includes(n))).toHaveLength(1);
    // The sampler arg is only read for ratio samplers, so the bad ratio is not reported here.
    expect(c.warnings.filter((w) => w.startsWith('OTEL_RESOURCE_ATTRIBUTES'))).toHaveLength(2);
    expect(c.warnings).toHaveLength(names.length + 2);
    expect(loadConfig({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }).warnings).toEqual([
      'OTEL_TRACES_SAMPLER_ARG="1.5" is not valid (expected a number from 0 to 1); using 1',
    ]);
  });

  test('file names tell service and pid apart', () => {
    expect(fileNameFor('checkout api/v2', 4242, 'deadbeef')).toBe('checkout_api_v2-4242-deadbeef.otlp-mmap');
    expect(fileNameFor('', 1, '00000000')).toBe('unknown_service-1-00000000.otlp-mmap');
  });
});

describe('samplers', () => {
  const parent = (sampled: boolean) => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: sampled ? 1 : 0, isRemote: true });
  const t = '0123456789abcdef0123456789abcdef';

  test('always_on, always_off and the parent-based ones follow the specification', () => {
    expect(createSampler('always_on', 1).shouldSample(t, parent(false))).toBe(true);
    expect(createSampler('always_off', 1).shouldSample(t, parent(true))).toBe(false);
    expect(createSampler('parentbased_always_on', 1).shouldSample(t, undefined)).toBe(true);
    expect(createSampler('parentbased_always_on', 1).shouldSample(t, parent(false))).toBe(false);
    expect(createSampler('parentbased_always_off', 1).shouldSample(t, undefined)).toBe(false);
    expect(createSampler('parentbased_always_off', 1).shouldSample(t, parent(true))).toBe(true);
    expect(createSampler('parentbased_traceidratio', 0).shouldSample(t, parent(true))).toBe(true);
    expect(createSampler('parentbased_traceidratio', 0).shouldSample(t, undefined)).toBe(false);
  });

  test('traceidratio decides from the random part of the trace id and samples about the ratio', () => {
    const s = traceIdRatio(0.25);
    expect(s.shouldSample('ffffffffffffffffff00000000000000', undefined)).toBe(true);
    expect(s.shouldSample('00000000000000000040000000000001', undefined)).toBe(false);
    const ids = new IdGenerator();
    let n = 0;
    for (let i = 0; i < 20000; i++) if (s.shouldSample(ids.traceId(), undefined)) n++;
    expect(n / 20000).toBeGreaterThan(0.22);
    expect(n / 20000).toBeLessThan(0.28);
    expect(createSampler('traceidratio', 1).shouldSample(t, undefined)).toBe(true);
    expect(createSampler('traceidratio', 0).shouldSample(t, undefined)).toBe(false);
  });

  test("traceidratio decides the same from a trace id's bytes as from its hex", () => {
    const g = new IdGenerator();
    for (const ratio of [0.01, 0.25, 0.5, 0.9]) {
      const s = traceIdRatio(ratio);
      let sampled = 0;
      for (let i = 0; i < 2000; i++) {
        const bytes = new Uint8Array(16);
        g.traceIdBytes(bytes);
        const hex = Buffer.from(bytes).toString('hex');
        const fromHex = s.shouldSample(hex, undefined);
        expect(s.shouldSample(bytes, undefined)).toBe(fromHex);
        if (fromHex) sampled++;
      }
      // Both kinds of decision happened, so the comparison covered each.
      if (ratio >= 0.25) expect(sampled).toBeGreaterThan(0);
      expect(sampled).toBeLessThan(2000);
    }
    // The boundary: the low 56 bits against the threshold, byte for byte.
    const edge = Buffer.from('00000000000000000040000000000001', 'hex');
    expect(traceIdRatio(0.25).shouldSample(new Uint8Array(edge), undefined)).toBe(false);
    expect(traceIdRatio(0.25).shouldSample(new Uint8Array(Buffer.from('ffffffffffffffffff00000000000000', 'hex')), undefined)).toBe(true);
  });
});

describe('ids', () => {
  test('are lowercase hex of the right length, distinct, and never all zero', () => {
    const g = new IdGenerator();
    const seen = new Set<string>();
    for (let i = 0; i < 10000; i++) {
      const t = g.traceId();
      const s = g.spanId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      seen.add(t);
    }
    expect(seen.size).toBe(10000);
  });

  test('hexOf spells the id bytes the generator writes, which are never all zero', () => {
    const g = new IdGenerator();
    for (let i = 0; i < 1000; i++) {
      const t = new Uint8Array(16);
      const s = new Uint8Array(8);
      g.traceIdBytes(t);
      g.spanIdBytes(s);
      // hexOf (a span's lazily made span context) spells the bytes.
      expect([hexOf(t), hexOf(s)]).toEqual([Buffer.from(t).toString('hex'), Buffer.from(s).toString('hex')]);
      // Never all zero.
      expect([t.some((b) => b !== 0), s.some((b) => b !== 0)]).toEqual([true, true]);
    }
  });

  test('two generators seeded from crypto differ; an all-zero seed is replaced', () => {
    expect(new IdGenerator().traceId()).not.toBe(new IdGenerator().traceId());
    const z = new IdGenerator(new Uint32Array(4));
    expect(z.spanId()).not.toBe('0000000000000000');
  });
});

describe('resource', () => {
  test('container id from cgroup v1 and systemd scopes, and from cgroup v2 mountinfo', () => {
    const id = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + 'b'.repeat(4);
    expect(id).toHaveLength(64);
    expect(containerIdFrom(`12:memory:/docker/${id}\n`, undefined)).toBe(id);
    expect(containerIdFrom(`0::/system.slice/docker-${id}.scope\n`, undefined)).toBe(id);
    expect(containerIdFrom(`0::/kubepods/burstable/pod1/cri-containerd-${id}.scope`, undefined)).toBe(id);
    expect(
      containerIdFrom('0::/\n', `123 45 8:1 /var/lib/docker/containers/${id}/hostname /etc/hostname rw - ext4 /dev/sda1 rw`),
    ).toBe(id);
    expect(containerIdFrom('4:memory:/process_api/47deec5cf538bc64cf488de9b526ec7b\n0::/\n', '')).toBeUndefined();
  });

  test('has the process, runtime, host and SDK attributes; OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME win', () => {
    const r = detectResource(
      { serviceName: undefined, resourceAttributes: { 'k8s.namespace.name': 'shop', 'host.name': 'override' } },
      { npm_package_version: '9.9.9' },
    );
    expect(r).toMatchObject({
      'service.name': 'unknown_service:node',
      'service.version': '9.9.9',
      'telemetry.sdk.name': 'otlp-mmap',
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.version': require('../package.json').version,
      'process.pid': process.pid,
      'process.executable.path': process.execPath,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      'host.name': 'override',
      'os.type': 'linux',
      'k8s.namespace.name': 'shop',
    });
    expect(detectResource({ serviceName: 'svc', resourceAttributes: { 'service.name': 'other' } }, {})['service.name']).toBe('svc');
    expect(detectResource({ serviceName: undefined, resourceAttributes: { 'service.name': 'other' } }, {})['service.name']).toBe('other');
  });
});

describe('times, limits and aggregations', () => {
  test('TimeInput forms become nanoseconds without losing sub-millisecond precision', () => {
    expect(toNanos([1700000000, 123456789])).toBe(1700000000123456789n);
    expect(toNanos(new Date(1700000000123))).toBe(1700000000123000000n);
    // Epoch milliseconds (after the process's time origin), fraction kept.
    expect(toNanos(1900000000123.25)).toBe(1900000000123250000n);
    // Smaller numbers are performance.now()-relative, as @opentelemetry/core reads them.
    const rel = toNanos(10)!;
    expect(rel).toBe(BigInt(Math.floor(performance.timeOrigin + 10)) * 1000000n + BigInt(Math.round(((performance.timeOrigin + 10) % 1) * 1e6)));
    expect(toNanos(undefined)).toBeUndefined();
    expect(toNanos(Number.NaN)).toBeUndefined();
  });

  test('attribute limits keep the caller object when nothing bites and truncate/drop otherwise', () => {
    const a = { s: 'abc', n: 1 };
    expect(applyLimits(a, 128, Infinity).attributes).toBe(a);
    expect(applyLimits({ s: 'abcdef', l: ['abcdef', 'x'], n: 1, bad: { o: 1 } }, 2, 3)).toEqual({
      attributes: { s: 'abc', l: ['abc', 'x'] },
      count: 2,
      dropped: 2,
    });
  });

  test('temporality preference and default histogram aggregation map per instrument kind', () => {
    const sum = (t: string, m: boolean) => ({ type: 'sum', temporality: t, isMonotonic: m });
    expect(aggregationFor('counter', 'cumulative', 'explicit_bucket_histogram', undefined)).toEqual(sum('cumulative', true));
    expect(aggregationFor('counter', 'delta', 'explicit_bucket_histogram', undefined)).toEqual(sum('delta', true));
    expect(aggregationFor('observableCounter', 'delta', 'explicit_bucket_histogram', undefined)).toEqual(sum('delta', true));
    expect(aggregationFor('observableCounter', 'lowmemory', 'explicit_bucket_histogram', undefined)).toEqual(sum('cumulative', true));
    expect(aggregationFor('upDownCounter', 'delta', 'explicit_bucket_histogram', undefined)).toEqual(sum('cumulative', false));
    expect(aggregationFor('histogram', 'lowmemory', 'explicit_bucket_histogram', [1, 2])).toEqual({
      type: 'histogram',
      temporality: 'delta',
      boundaries: [1, 2],
    });
    expect(aggregationFor('histogram', 'cumulative', 'base2_exponential_bucket_histogram', [1, 2])).toEqual({
      type: 'exponentialHistogram',
      temporality: 'cumulative',
      maxBuckets: 160,
      maxScale: 20,
    });
    expect(aggregationFor('gauge', 'delta', 'explicit_bucket_histogram', undefined)).toEqual({ type: 'gauge' });
    expect(aggregationFor('observableGauge', 'delta', 'explicit_bucket_histogram', undefined)).toEqual({ type: 'gauge' });
  });

  test('in-thread loader hooks only where module.registerHooks accepts CommonJS sources', () => {
    expect(supportsSyncHooks('20.20.2')).toBe(false);
    expect(supportsSyncHooks('22.22.2')).toBe(false);
    expect(supportsSyncHooks('22.22.3')).toBe(true);
    expect(supportsSyncHooks('24.11.0')).toBe(false);
    expect(supportsSyncHooks('24.11.1')).toBe(true);
    expect(supportsSyncHooks('25.0.0')).toBe(false);
    expect(supportsSyncHooks('26.0.0')).toBe(true);
  });
});
