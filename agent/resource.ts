/**
 * The process's resource: service, SDK, process, runtime, host and OS attributes, the container
 * id when a cgroup file shows one, and everything from `OTEL_RESOURCE_ATTRIBUTES`. Only local
 * files and `process`/`os` are read; there are no network probes.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import type { AgentConfig, Env } from './config';

/** The `telemetry.sdk.name` this agent reports. */
export const SDK_NAME = 'otlp-mmap';

/** Resource attribute values the agent writes. */
export type ResourceAttributes = Record<string, string | number | string[]>;

const ARCH: Record<string, string> = {
  arm: 'arm32',
  arm64: 'arm64',
  ia32: 'x86',
  x64: 'amd64',
  ppc: 'ppc32',
  ppc64: 'ppc64',
  s390x: 's390x',
};

const OS_TYPE: Record<string, string> = {
  aix: 'aix',
  darwin: 'darwin',
  freebsd: 'freebsd',
  linux: 'linux',
  openbsd: 'openbsd',
  sunos: 'solaris',
  win32: 'windows',
  netbsd: 'netbsd',
};

/** This package's version (from its package.json), or `undefined`. */
function sdkVersion(): string | undefined {
  for (const p of [path.join(__dirname, '..', '..', 'package.json'), path.join(__dirname, '..', 'package.json')]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'otlp-mmap' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next layout
    }
  }
  return undefined;
}

const CGROUP_ID = /(?:^|[/:-])([0-9a-f]{64})(?:\.scope)?$/;
const MOUNTINFO_ID = /\/containers\/([0-9a-f]{64})\/(?:hostname|hosts|resolv\.conf)\b/;

/**
 * Finds a container id in the text of `/proc/self/cgroup` (cgroup v1 and the systemd
 * `docker-<id>.scope` / `cri-containerd-<id>.scope` forms) or `/proc/self/mountinfo` (cgroup v2,
 * where the runtime bind-mounts `/.../containers/<id>/hostname`).
 *
 * @param cgroup - the cgroup file's text, if read.
 * @param mountinfo - the mountinfo file's text, if read.
 */
export function containerIdFrom(cgroup: string | undefined, mountinfo: string | undefined): string | undefined {
  if (cgroup) {
    for (const line of cgroup.split('\n')) {
      const m = CGROUP_ID.exec(line.trim());
      if (m) return m[1];
    }
  }
  if (mountinfo) {
    for (const line of mountinfo.split('\n')) {
      const m = MOUNTINFO_ID.exec(line);
      if (m) return m[1];
    }
  }
  return undefined;
}

function readSmall(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The service name: `OTEL_SERVICE_NAME`, then `service.name` from `OTEL_RESOURCE_ATTRIBUTES`, then `unknown_service:<executable>`. */
export function serviceNameOf(config: Pick<AgentConfig, 'serviceName' | 'resourceAttributes'>): string {
  return (
    config.serviceName ??
    config.resourceAttributes['service.name'] ??
    `unknown_service:${path.basename(process.execPath, path.extname(process.execPath))}`
  );
}

/**
 * Builds the resource attributes for this process. Never throws.
 *
 * @param config - the agent configuration (service name and `OTEL_RESOURCE_ATTRIBUTES`).
 * @param env - the environment (`npm_package_version` gives `service.version`).
 */
export function detectResource(
  config: Pick<AgentConfig, 'serviceName' | 'resourceAttributes'>,
  env: Env = process.env,
): ResourceAttributes {
  const attrs: ResourceAttributes = {};
  const set = (k: string, v: string | number | string[] | undefined): void => {
    if (v !== undefined && v !== '') attrs[k] = v;
  };
  set('service.version', env.npm_package_version);
  set('telemetry.sdk.name', SDK_NAME);
  set('telemetry.sdk.language', 'nodejs');
  set('telemetry.sdk.version', sdkVersion());
  set('process.pid', process.pid);
  set('process.parent_pid', process.ppid);
  set('process.executable.name', path.basename(process.execPath, path.extname(process.execPath)));
  set('process.executable.path', process.execPath);
  set('process.command', process.argv[1]);
  set('process.command_args', [process.argv[0], ...process.execArgv, ...process.argv.slice(1)].filter((a) => typeof a === 'string'));
  set('process.runtime.name', 'nodejs');
  set('process.runtime.version', process.versions.node);
  set('process.runtime.description', 'Node.js');
  try {
    set('process.owner', os.userInfo().username);
  } catch {
    // no passwd entry for this uid (common in containers)
  }
  set('host.name', os.hostname());
  set('host.arch', ARCH[process.arch] ?? process.arch);
  set('os.type', OS_TYPE[process.platform] ?? process.platform);
  set('os.version', os.release());
  if (process.platform === 'linux') {
    set('container.id', containerIdFrom(readSmall('/proc/self/cgroup'), readSmall('/proc/self/mountinfo')));
  }
  for (const [k, v] of Object.entries(config.resourceAttributes)) attrs[k] = v;
  attrs['service.name'] = serviceNameOf(config);
  return attrs;
}
