/**
 * Installs import-in-the-middle's ESM loader hook so that packages that are real ES modules can
 * be patched (`OTLP_MMAP_ESM_HOOK=always`). It must run before the app's first import. Without
 * it (the default), ES-module apps are instrumented through the `require` hooks
 * (`./esm-imports`): everything instrumented here is CommonJS or a builtin.
 *
 * The loader only wraps the modules that instrumentations `Hook()`; those names reach it over
 * an acknowledged message channel, so the agent starts, the instrumentations hook their
 * modules, and then the entry point waits for the loader's acknowledgement:
 *
 * - `--import` (register.mjs): `module.register` with import-in-the-middle's
 *   `createAddHookMessageChannel`, then a top-level `await` of its acknowledgement.
 * - `--require` (register.cjs) cannot await: the agent forwards the hooked names over its own
 *   channel and blocks (bounded) until the loader thread acknowledges them.
 * - Where the running Node can run the loader in-thread (`module.registerHooks`, Node
 *   >= 22.22.3 / 24.11.1 / 25.1 / 26), the hook runs synchronously and reads the hooked names
 *   at resolve time; nothing needs waiting for.
 */
import fs = require('node:fs');
import nodeModule = require('node:module');
import path = require('node:path');
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { warnStartup } from './log';

/** How the entry point finishes the hook set-up after the agent has started. */
export type HookCompletion = () => Promise<void> | void;

interface IitmModule {
  createAddHookMessageChannel(): {
    registerOptions: { data?: unknown; transferList?: unknown[] };
    addHookMessagePort: MessagePort;
    waitForAllMessagesAcknowledged(): Promise<void>;
  };
}

interface RegisterHooksModule {
  register(options: { shouldInclude(url: string, specifier: string): boolean }): void;
}

type RegisterFn = (specifier: string, parentURL: string, options?: { data?: unknown; transferList?: unknown[] }) => void;

/**
 * Whether the process's main module is an ES module: `.mjs`; `.js` (or no extension) under a
 * package.json with `"type": "module"`; or `--input-type=module` / `--experimental-default-type=module`.
 *
 * @param main - the main script (`process.argv[1]`), if any.
 * @param execArgv - Node's own flags.
 */
export function mainIsEsm(main: string | undefined = process.argv[1], execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => a === '--input-type=module' || a === '--experimental-default-type=module')) return true;
  if (!main) return false;
  const ext = path.extname(main);
  if (ext === '.mjs' || ext === '.mts') return true;
  if (ext === '.cjs' || ext === '.cts' || ext === '.json' || ext === '.node') return false;
  // The nearest package.json decides for .js and extensionless files.
  let dir = path.dirname(path.resolve(main));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false;
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return false;
    dir = up;
  }
}

/**
 * Whether to install the ESM loader hook for `mode` (`OTLP_MMAP_ESM_HOOK`): only for `always`.
 * On Node 20 the hook starts a loader hooks thread that costs ~80 ms of start-up, and the
 * modules instrumented here (CommonJS packages and builtins) are patched without it, whatever
 * kind of module imports them.
 *
 * @param mode - `auto`, `always` or `never`.
 */
export function esmHookWanted(mode: 'auto' | 'always' | 'never'): boolean {
  return mode === 'always';
}

/**
 * Whether to require the patched builtins (`http`, `https`) before the app starts, because its
 * `import ... from 'node:http'` would not reach the `require` hooks: in `auto` mode, for an
 * ES-module main. When the main cannot be told, they are loaded (a few milliseconds).
 *
 * @param mode - `auto`, `always` (the loader hook patches builtin imports) or `never`.
 * @param main - the main script (`process.argv[1]`), if any.
 * @param execArgv - Node's own flags.
 */
export function builtinsPreloadWanted(
  mode: 'auto' | 'always' | 'never',
  main: string | undefined = process.argv[1],
  execArgv: readonly string[] = process.execArgv,
): boolean {
  if (mode !== 'auto') return false;
  try {
    return mainIsEsm(main, execArgv);
  } catch {
    return true;
  }
}

/** Longest time `--require` start-up blocks for the loader's acknowledgement. */
const ACK_TIMEOUT_MS = 5000;

/** Whether this Node's `module.registerHooks` can run import-in-the-middle's loader in-thread. */
export function supportsSyncHooks(version: string = process.versions.node): boolean {
  const [major, minor, patch] = version.split('.').map((s) => parseInt(s, 10));
  if (major >= 26) return true;
  if (major === 25) return minor >= 1;
  if (major === 24) return minor > 11 || (minor === 11 && patch >= 1);
  if (major === 22) return minor > 22 || (minor === 22 && patch >= 3);
  return false;
}

function drain(port: MessagePort, into: Set<string>): void {
  for (;;) {
    const m = receiveMessageOnPort(port);
    if (m === undefined) return;
    if (Array.isArray(m.message)) for (const name of m.message) if (typeof name === 'string') into.add(name);
  }
}

/**
 * Installs the in-thread loader. The hooked names are collected from import-in-the-middle's
 * add-hook channel (never transferred, read synchronously) whenever the loader resolves a module.
 */
function installSync(iitm: IitmModule): HookCompletion {
  const { addHookMessagePort } = iitm.createAddHookMessageChannel();
  const included = new Set<string>();
  const registerHooks = require('import-in-the-middle/register-hooks.mjs') as RegisterHooksModule;
  registerHooks.register({
    shouldInclude(url: string, specifier: string): boolean {
      drain(addHookMessagePort, included);
      if (included.has(specifier) || included.has(url)) return true;
      if (specifier.startsWith('node:')) return included.has(specifier.slice(5));
      if (!url.startsWith('file:')) return false;
      try {
        return included.has(fileURLToPath(url));
      } catch {
        return false;
      }
    },
  });
  return () => undefined;
}

/** `module.register` with import-in-the-middle's own acknowledged channel; the completion is awaited. */
function installAwaitable(iitm: IitmModule, register: RegisterFn, hookUrl: string, parentUrl: string): HookCompletion {
  const { registerOptions, waitForAllMessagesAcknowledged } = iitm.createAddHookMessageChannel();
  register(hookUrl, parentUrl, registerOptions);
  return () => waitForAllMessagesAcknowledged();
}

/**
 * `module.register` for a `--require` entry: our own channel to the loader thread; the completion
 * forwards the names hooked so far and blocks until the loader acknowledges them.
 */
function installBlocking(iitm: IitmModule, register: RegisterFn, hookUrl: string, parentUrl: string): HookCompletion {
  const { addHookMessagePort: captured } = iitm.createAddHookMessageChannel();
  const { port1: toLoader, port2: loaderSide } = new MessageChannel();
  register(hookUrl, parentUrl, { data: { addHookMessagePort: loaderSide, include: [] }, transferList: [loaderSide] });
  return () => {
    const names = new Set<string>();
    drain(captured, names);
    if (names.size > 0) {
      toLoader.postMessage([...names]);
      const sleeper = new Int32Array(new SharedArrayBuffer(4));
      const deadline = Date.now() + ACK_TIMEOUT_MS;
      while (receiveMessageOnPort(toLoader) === undefined) {
        if (Date.now() > deadline) {
          warnStartup('the ESM loader hook did not acknowledge the instrumented modules in time; ESM imports may not be instrumented');
          break;
        }
        Atomics.wait(sleeper, 0, 0, 1);
      }
    }
    // Modules hooked later still reach the loader (asynchronously); neither port keeps the process alive.
    captured.on('message', (m: unknown) => toLoader.postMessage(m));
    captured.unref();
    toLoader.on('message', () => undefined);
    toLoader.unref();
  };
}

/**
 * Installs the ESM loader hook. Never throws: on failure it warns once and returns a no-op
 * completion (CommonJS patching still works).
 *
 * @param mode - `'await'` for `--import` entries (the completion returns a promise to await),
 *   `'block'` for `--require` entries (the completion blocks until acknowledged).
 * @returns the completion, to call once the instrumentations are enabled.
 */
export function installEsmHook(mode: 'await' | 'block'): HookCompletion {
  try {
    const iitm = require('import-in-the-middle') as IitmModule;
    const register = (nodeModule as unknown as { register?: RegisterFn }).register;
    if (supportsSyncHooks() && typeof (nodeModule as unknown as { registerHooks?: unknown }).registerHooks === 'function') {
      return installSync(iitm);
    }
    if (typeof register !== 'function') {
      warnStartup(`Node ${process.version} has no module.register; ES modules will not be instrumented (Node >= 20.6 needed)`);
      return () => undefined;
    }
    const hookUrl = pathToFileURL(require.resolve('import-in-the-middle/hook.mjs')).href;
    const parentUrl = pathToFileURL(__filename).href;
    return mode === 'await'
      ? installAwaitable(iitm, register, hookUrl, parentUrl)
      : installBlocking(iitm, register, hookUrl, parentUrl);
  } catch (e) {
    warnStartup(`could not install the ESM loader hook (${e instanceof Error ? e.message : String(e)}); ES modules will not be instrumented`);
    return () => undefined;
  }
}
