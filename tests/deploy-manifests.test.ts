/**
 * The deployment files agree with one another: the Dockerfile's targets and
 * paths, the Kubernetes manifests' volumes, mounts, environment and images,
 * the OpenTelemetry Operator example and the commands in the README's deployment section.
 * (No Docker engine or cluster runs here: this reads the files themselves.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';

const root = path.join(__dirname, '..');
const k8sDir = path.join(root, 'deploy', 'kubernetes');
const version: string = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const AGENT_IMAGE = `otlp-mmap-agent:${version}`;
const COLLECTOR_IMAGE = `otlp-mmap-collector:${version}`;
/** Where the OpenTelemetry Operator mounts the copied agent (its Node.js injection). */
const OPERATOR_NODEJS_MOUNT = '/otel-auto-instrumentation-nodejs';

// ------------------------------------------------------------ Dockerfile

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  base: string;
  name: string;
  instructions: Instruction[];
}

/** Parses a Dockerfile into stages (line continuations and comments handled). */
function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) && !current.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const args = m[2];
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args.replace(/--platform=\S+\s+/, ''));
      if (!f) throw new Error(`bad FROM: ${l}`);
      stages.push({ base: f[1], name: f[2] ?? `#${stages.length}`, instructions: [] });
    } else if (stages.length === 0) {
      if (op === 'ARG') {
        const [k, v] = args.split('=');
        globalArgs.set(k, v ?? '');
      }
    } else {
      stages[stages.length - 1].instructions.push({ op, args });
    }
  }
  return { globalArgs, stages };
}

/** The JSON (exec) form of CMD/ENTRYPOINT/RUN as an array. */
function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`not an exec form: ${args}`);
  return parsed as string[];
}

function only(stage: Stage, op: string): Instruction[] {
  return stage.instructions.filter((i) => i.op === op);
}

function last(stage: Stage, op: string): Instruction {
  const all = only(stage, op);
  if (all.length === 0) throw new Error(`stage ${stage.name} has no ${op}`);
  return all[all.length - 1];
}

/** ENV instructions of a stage as a map (KEY=VALUE form). */
function stageEnv(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const i of only(stage, 'ENV')) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env.set(m[1], m[2].replace(/^"(.*)"$/, '$1'));
  }
  return env;
}

/** `COPY --from=SRC a b` of a stage, as [from, src, dest]. */
function copiesFrom(stage: Stage): Array<[string, string, string]> {
  return only(stage, 'COPY')
    .map((i) => /^--from=(\S+)\s+(\S+)\s+(\S+)$/.exec(i.args))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], m[2], m[3]]);
}

function flagValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

// ------------------------------------------------------------ Kubernetes

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
  ports?: Array<{ name?: string; containerPort: number }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface Volume {
  name: string;
  emptyDir?: { medium?: string; sizeLimit?: string };
}
interface PodSpec {
  securityContext?: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
}
interface Deployment {
  apiVersion: string;
  kind: 'Deployment';
  metadata: { name: string };
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}
interface Instrumentation {
  apiVersion: string;
  kind: 'Instrumentation';
  metadata: { name: string };
  spec: { nodejs: { image: string; env?: EnvVar[] } };
}

function loadYaml(file: string): unknown[] {
  const text = fs.readFileSync(path.join(k8sDir, file), 'utf8');
  const docs = parseAllDocuments(text);
  const out: unknown[] = [];
  for (const d of Array.isArray(docs) ? docs : [docs]) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    const js: unknown = d.toJS();
    if (js !== null && js !== undefined) out.push(js);
  }
  return out;
}

function findKind<T>(docs: unknown[], kind: string): T {
  const found = docs.filter((d) => typeof d === 'object' && d !== null && (d as { kind?: unknown }).kind === kind);
  expect(found).toHaveLength(1);
  return found[0] as T;
}

function container(spec: PodSpec, name: string): Container {
  const c = [...(spec.initContainers ?? []), ...spec.containers].find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
}

function envOf(c: Container): Map<string, EnvVar> {
  const names = (c.env ?? []).map((e) => e.name);
  expect(new Set(names).size).toBe(names.length); // no duplicates
  return new Map((c.env ?? []).map((e) => [e.name, e]));
}

function envValue(c: Container, name: string): string {
  const e = envOf(c).get(name);
  if (!e || typeof e.value !== 'string') throw new Error(`container ${c.name} has no literal ${name}`);
  return e.value;
}

function mountOf(c: Container, volume: string): VolumeMount {
  const m = (c.volumeMounts ?? []).find((v) => v.name === volume);
  if (!m) throw new Error(`container ${c.name} does not mount ${volume}`);
  return m;
}

/** The volume mounted at exactly `mountPath` in `c`. */
function volumeAt(spec: PodSpec, c: Container, mountPath: string): Volume {
  const m = (c.volumeMounts ?? []).find((v) => v.mountPath === mountPath);
  if (!m) throw new Error(`container ${c.name} mounts nothing at ${mountPath}`);
  const v = (spec.volumes ?? []).find((x) => x.name === m.name);
  if (!v) throw new Error(`volume ${m.name} is not defined`);
  return v;
}

/** Every mount names a defined volume, and every volume is mounted somewhere. */
function checkVolumesConsistent(spec: PodSpec): void {
  const defined = new Set((spec.volumes ?? []).map((v) => v.name));
  const used = new Set<string>();
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const m of c.volumeMounts ?? []) {
      expect(defined).toContain(m.name);
      used.add(m.name);
    }
  }
  expect([...used].sort()).toEqual([...defined].sort());
}

const dockerfile = parseDockerfile(fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
function stage(name: string): Stage {
  const s = dockerfile.stages.find((x) => x.name === name);
  if (!s) throw new Error(`Dockerfile has no stage ${name}`);
  return s;
}

/** What the Dockerfile's collector stage says: port, dir, uid. */
function collectorImageFacts(name = 'collector'): { port: number; dir: string; uid: number; cmd: string[] } {
  const s = stage(name);
  const cmd = execForm(last(s, 'CMD').args);
  const port = Number(flagValue(cmd, '--health-port'));
  const dir = flagValue(cmd, '--dir') ?? '';
  const user = last(s, 'USER').args;
  return { port, dir, uid: Number(user.split(':')[0]), cmd };
}

/** The checks shared by both Deployments for the collector sidecar. */
function checkCollectorSidecar(spec: PodSpec, app: Container, mmapDir: string): void {
  const col = container(spec, 'otlp-mmap-collector');
  const facts = collectorImageFacts();
  expect(col.image).toBe(COLLECTOR_IMAGE);
  // Same volume, same path as the app.
  const filesVolume = volumeAt(spec, app, mmapDir);
  expect(filesVolume.emptyDir?.medium).toBe('Memory');
  expect(mountOf(col, filesVolume.name).mountPath).toBe(mmapDir);
  expect(mountOf(col, filesVolume.name).readOnly).not.toBe(true); // it advances reader indexes and removes dead files
  const args = col.args ?? [];
  expect(args[0]).toBe('collect');
  expect(flagValue(args, '--dir')).toBe(mmapDir);
  expect(envValue(col, 'OTLP_MMAP_DIR')).toBe(mmapDir);
  expect(envValue(col, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toMatch(/^https?:\/\/[^\s/]+:\d+$/);
  // Health: the probes hit the port the collector is told to serve /healthz on,
  // which is the port the image exposes and its HEALTHCHECK uses.
  const healthPort = Number(flagValue(args, '--health-port'));
  expect(healthPort).toBe(facts.port);
  for (const probe of [col.livenessProbe, col.readinessProbe]) {
    expect(probe?.httpGet?.path).toBe('/healthz');
    expect(Number(probe?.httpGet?.port)).toBe(healthPort);
  }
  expect((col.ports ?? []).map((p) => p.containerPort)).toContain(healthPort);
  // The files are mode 0600: the collector must run as the app's uid, which
  // is the uid of the collector image.
  expect(spec.securityContext?.runAsUser).toBe(facts.uid);
  expect(spec.securityContext?.runAsNonRoot).toBe(true);
}

describe('Dockerfile', () => {
  test('has the dev, agent, collector and package targets; every stage reference is to an earlier stage', () => {
    const names = dockerfile.stages.map((s) => s.name);
    for (const t of ['dev', 'builder', 'agent', 'collector', 'package', 'agent-musl', 'collector-musl']) expect(names).toContain(t);
    expect(new Set(names).size).toBe(names.length);
    dockerfile.stages.forEach((s, i) => {
      const earlier = names.slice(0, i);
      if (names.includes(s.base)) expect(earlier).toContain(s.base);
      for (const [from] of copiesFrom(s)) {
        if (names.includes(from)) expect(earlier).toContain(from);
        else expect(from).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9.${}_-]+$/); // an image reference
      }
    });
  });

  test('the dev image has Node, Rust, PostgreSQL, python3 and build tools', () => {
    const dev = stage('dev');
    const chain: Stage[] = [];
    for (let s: Stage | undefined = dev; s; s = dockerfile.stages.find((x) => x.name === s?.base)) chain.push(s);
    const runs = chain.flatMap((s) => only(s, 'RUN').map((i) => i.args)).join('\n');
    for (const pkg of ['postgresql', 'python3', 'build-essential']) expect(runs).toContain(pkg);
    expect(chain.some((s) => s.base.startsWith('node:'))).toBe(true);
    expect(chain.some((s) => copiesFrom(s).some(([from, src]) => from === 'rust' && src === '/usr/local/cargo'))).toBe(true);
    expect(stage('rust').base).toMatch(/^rust:/);
    expect(last(dev, 'WORKDIR').args).toBe('/app');
  });

  test('the builder makes /autoinstrumentation with scripts/build-autoinstrumentation.js, and the agent images ship exactly that tree', () => {
    for (const [builder, agent] of [
      ['builder', 'agent'],
      ['builder-musl', 'agent-musl'],
    ]) {
      const runs = only(stage(builder), 'RUN').map((i) => i.args);
      expect(runs).toContain('node scripts/build-autoinstrumentation.js /autoinstrumentation');
      // The tree is built after the package (native addon + TypeScript).
      const build = runs.findIndex((r) => r.includes('npm run build'));
      const tree = runs.indexOf('node scripts/build-autoinstrumentation.js /autoinstrumentation');
      expect(build).toBeGreaterThanOrEqual(0);
      expect(build).toBeLessThan(tree);
      const a = stage(agent);
      expect(a.base).toMatch(/^busybox:/); // small, and has cp
      expect(copiesFrom(a)).toEqual([[builder, '/autoinstrumentation', '/autoinstrumentation']]);
      expect(execForm(last(a, 'CMD').args)).toEqual(['cp', '-r', '/autoinstrumentation/.', OPERATOR_NODEJS_MOUNT]);
    }
    // rustup's musl toolchain links statically by default and then drops the cdylib.
    expect(stageEnv(stage('builder-musl')).get('RUSTFLAGS')).toContain('target-feature=-crt-static');
    // The script the Dockerfile calls is the one in the repository.
    expect(fs.existsSync(path.join(root, 'scripts', 'build-autoinstrumentation.js'))).toBe(true);
  });

  test('the collector image runs `otlp-mmap collect` from the same tree as a non-root user, with a health check', () => {
    for (const [name, builder] of [
      ['collector', 'builder'],
      ['collector-musl', 'builder-musl'],
    ]) {
      const s = stage(name);
      const facts = collectorImageFacts(name);
      expect(copiesFrom(s)).toContainEqual([builder, '/autoinstrumentation', '/opt/otlp-mmap']);
      expect(execForm(last(s, 'ENTRYPOINT').args)).toEqual(['node', '/opt/otlp-mmap/collector/bin.js']);
      expect(facts.cmd[0]).toBe('collect');
      expect(facts.uid).toBeGreaterThan(0);
      expect(Number.isInteger(facts.port) && facts.port > 0).toBe(true);
      const env = stageEnv(s);
      expect(env.get('OTLP_MMAP_DIR')).toBe(facts.dir);
      expect(env.get('OTEL_EXPORTER_OTLP_ENDPOINT')).toMatch(/^http:\/\//);
      expect(only(s, 'EXPOSE').map((i) => Number(i.args))).toContain(facts.port);
      // HEALTHCHECK [options] CMD ["node", "<bin.js>", "health", "--port", PORT]: the
      // collector's own probe of GET /healthz on the port it serves.
      const hc = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(last(s, 'HEALTHCHECK').args);
      expect(hc).not.toBeNull();
      const probe = execForm(hc![1]);
      expect(probe.slice(0, 3)).toEqual(['node', '/opt/otlp-mmap/collector/bin.js', 'health']);
      expect(Number(flagValue(probe, '--port'))).toBe(facts.port);
      expect(env.get('OTLP_MMAP_HEALTH_PORT')).toBe(String(facts.port));
      // The directory exists and belongs to the collector's uid.
      const runs = only(s, 'RUN').map((i) => i.args).join('\n');
      expect(runs).toContain(`mkdir -p ${facts.dir}`);
      expect(runs).toContain(`chown ${facts.uid}:`);
    }
  });

  test('.dockerignore keeps host build outputs out of the context', () => {
    const lines = fs
      .readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const p of ['node_modules', 'native/target', 'dist', 'build', '*.node']) expect(lines).toContain(p);
  });
});

describe('deploy/kubernetes/deployment.yaml (init container + collector sidecar)', () => {
  const deployment = findKind<Deployment>(loadYaml('deployment.yaml'), 'Deployment');
  const spec = deployment.spec.template.spec;
  const labels = deployment.spec.template.metadata.labels;

  test('selector matches the pod labels; every mount names a defined volume', () => {
    expect(deployment.apiVersion).toBe('apps/v1');
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
    checkVolumesConsistent(spec);
  });

  test('the init container copies the agent image tree into the emptyDir the app loads it from', () => {
    expect(spec.initContainers).toHaveLength(1);
    const init = spec.initContainers![0];
    expect(init.image).toBe(AGENT_IMAGE);
    const cmd = init.command ?? [];
    expect(cmd.slice(0, 3)).toEqual(['cp', '-r', '/autoinstrumentation/.']);
    const dest = cmd[3];
    const agentVolume = volumeAt(spec, init, dest);
    expect(agentVolume.emptyDir).toBeDefined();

    const app = container(spec, 'app');
    expect(mountOf(app, agentVolume.name).mountPath).toBe(dest);
    expect(mountOf(app, agentVolume.name).readOnly).toBe(true);
    expect(envValue(app, 'NODE_OPTIONS').split(/\s+/)).toEqual(['--require', `${dest}/autoinstrumentation.js`]);
    // The same path the Operator uses, so one image serves both ways in.
    expect(dest).toBe(OPERATOR_NODEJS_MOUNT);
  });

  test('the app writes into a memory-backed emptyDir that the collector sidecar reads and exports', () => {
    const app = container(spec, 'app');
    const dir = envValue(app, 'OTLP_MMAP_DIR');
    expect(dir).toBe(collectorImageFacts().dir);
    checkCollectorSidecar(spec, app, dir);
  });

  test('service name and k8s.* attributes come from the downward API through OTEL_RESOURCE_ATTRIBUTES', () => {
    const app = container(spec, 'app');
    const list = app.env ?? [];
    const index = new Map(list.map((e, i) => [e.name, i]));
    const checkFieldRef = (e: EnvVar): void => {
      const fp = e.valueFrom?.fieldRef?.fieldPath;
      expect(fp).toBeDefined();
      const label = /^metadata\.labels\['([^']+)'\]$/.exec(fp!);
      if (label) expect(Object.keys(labels)).toContain(label[1]);
      else expect(['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'status.podIP']).toContain(fp);
    };

    const svc = list.find((e) => e.name === 'OTEL_SERVICE_NAME')!;
    checkFieldRef(svc);
    const ra = list.find((e) => e.name === 'OTEL_RESOURCE_ATTRIBUTES')!;
    const pairs = new Map(
      ra.value!.split(',').map((p) => {
        const eq = p.indexOf('=');
        expect(eq).toBeGreaterThan(0);
        return [p.slice(0, eq).trim(), p.slice(eq + 1).trim()] as [string, string];
      }),
    );
    for (const key of ['k8s.namespace.name', 'k8s.pod.name', 'k8s.pod.uid', 'k8s.node.name', 'k8s.container.name', 'k8s.deployment.name']) {
      expect(pairs.has(key)).toBe(true);
    }
    expect(pairs.get('k8s.container.name')).toBe('app');
    expect(pairs.get('k8s.deployment.name')).toBe(deployment.metadata.name);
    // Each $(VAR) is defined earlier in the list (Kubernetes only expands those)
    // and comes from the downward API.
    const refs = [...ra.value!.matchAll(/\$\(([A-Z0-9_]+)\)/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const r of refs) {
      expect(index.get(r)).toBeLessThan(index.get('OTEL_RESOURCE_ATTRIBUTES')!);
      checkFieldRef(list[index.get(r)!]);
    }
    for (const [key, fp] of [
      ['k8s.pod.name', 'metadata.name'],
      ['k8s.namespace.name', 'metadata.namespace'],
      ['k8s.pod.uid', 'metadata.uid'],
      ['k8s.node.name', 'spec.nodeName'],
    ]) {
      const m = /^\$\(([A-Z0-9_]+)\)$/.exec(pairs.get(key)!);
      expect(m).not.toBeNull();
      expect(list[index.get(m![1])!].valueFrom?.fieldRef?.fieldPath).toBe(fp);
    }
  });
});

describe('deploy/kubernetes Operator example', () => {
  const instrumentation = findKind<Instrumentation>(loadYaml('instrumentation.yaml'), 'Instrumentation');
  const deployment = findKind<Deployment>(loadYaml('operator-deployment.yaml'), 'Deployment');
  const spec = deployment.spec.template.spec;

  test('the Instrumentation uses our agent image, whose tree is what the Operator copies', () => {
    expect(instrumentation.apiVersion).toBe('opentelemetry.io/v1alpha1');
    expect(instrumentation.spec.nodejs.image).toBe(AGENT_IMAGE);
    expect(copiesFrom(stage('agent'))).toContainEqual(['builder', '/autoinstrumentation', '/autoinstrumentation']);
  });

  test('the annotated Deployment adds the shared volume and the collector sidecar, and is injected into the app only', () => {
    const ann = deployment.spec.template.metadata.annotations ?? {};
    expect(ann['instrumentation.opentelemetry.io/inject-nodejs']).toBe(instrumentation.metadata.name);
    const injected = (ann['instrumentation.opentelemetry.io/container-names'] ?? '').split(',').map((s) => s.trim());
    expect(injected).toEqual(['app']); // never the collector: it is a Node process too
    expect(spec.initContainers ?? []).toHaveLength(0); // the Operator adds the agent's

    const dirVar = (instrumentation.spec.nodejs.env ?? []).find((e) => e.name === 'OTLP_MMAP_DIR');
    expect(dirVar?.value).toBeDefined();
    const dir = dirVar!.value!;
    expect(dir).toBe(collectorImageFacts().dir);
    checkVolumesConsistent(spec);
    const app = container(spec, 'app');
    checkCollectorSidecar(spec, app, dir);
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) {
      expect(deployment.spec.template.metadata.labels[k]).toBe(v);
    }
  });
});

describe("the README's deployment section", () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Running in containers and Kubernetes');
  const next = readme.indexOf('\n## ', start + 1);
  const doc = readme.slice(start, next < 0 ? undefined : next);

  test('exists', () => {
    expect(start).toBeGreaterThanOrEqual(0);
  });


  test('its docker build commands name existing targets and the images the manifests use', () => {
    const targets = new Map<string, string>();
    for (const m of doc.matchAll(/docker build --target (\S+) -t (\S+) \./g)) targets.set(m[1], m[2]);
    const names = dockerfile.stages.map((s) => s.name);
    for (const t of targets.keys()) expect(names).toContain(t);
    expect(targets.get('agent')).toBe(AGENT_IMAGE);
    expect(targets.get('collector')).toBe(COLLECTOR_IMAGE);
    expect(targets.get('dev')).toBe('otlp-mmap-dev');
    expect(doc).toContain('docker run --rm -v "$PWD:/app" -w /app otlp-mmap-dev npm test');
    expect(doc).toContain('npm run build:autoinstrumentation');
  });

  test('every manifest it applies exists', () => {
    const applied = [...doc.matchAll(/kubectl apply -f (\S+)/g)].map((m) => m[1]);
    expect(applied.length).toBeGreaterThanOrEqual(3);
    for (const f of applied) expect(fs.existsSync(path.join(root, f))).toBe(true);
  });
});
