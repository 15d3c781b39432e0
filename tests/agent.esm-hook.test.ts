/**
 * The ESM loader hook is installed only on request (`OTLP_MMAP_ESM_HOOK=always`): a loader thread
 * costs Node 20 ~80-100 ms of start-up, and what the agent instruments (CommonJS packages and
 * builtins) is patched without it. An ES-module main gets the patched builtins loaded up front.
 * (tests/instrumentation.esm-app.test.ts runs the apps.)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { builtinsPreloadWanted, esmHookWanted, mainIsEsm } from '../agent/esm-hooks';

describe('mainIsEsm decides like Node does', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otlp-mmap-esm-'));
  const esmPkg = path.join(dir, 'esm');
  const cjsPkg = path.join(dir, 'cjs');
  beforeAll(() => {
    fs.mkdirSync(path.join(esmPkg, 'src'), { recursive: true });
    fs.mkdirSync(cjsPkg, { recursive: true });
    fs.writeFileSync(path.join(esmPkg, 'package.json'), JSON.stringify({ type: 'module' }));
    fs.writeFileSync(path.join(cjsPkg, 'package.json'), JSON.stringify({ name: 'x' }));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('.mjs is ESM and .cjs is CommonJS, whatever package.json says', () => {
    expect(mainIsEsm(path.join(cjsPkg, 'a.mjs'), [])).toBe(true);
    expect(mainIsEsm(path.join(esmPkg, 'a.cjs'), [])).toBe(false);
  });

  test('.js follows the nearest package.json "type"', () => {
    expect(mainIsEsm(path.join(esmPkg, 'src', 'app.js'), [])).toBe(true);
    expect(mainIsEsm(path.join(cjsPkg, 'app.js'), [])).toBe(false);
    expect(mainIsEsm(path.join(esmPkg, 'bin', 'tool'), [])).toBe(true);
  });

  test('--input-type=module and --experimental-default-type=module make ESM; no main script is CommonJS', () => {
    expect(mainIsEsm(undefined, ['--input-type=module'])).toBe(true);
    expect(mainIsEsm(path.join(cjsPkg, 'app.js'), ['--experimental-default-type=module'])).toBe(true);
    expect(mainIsEsm(undefined, [])).toBe(false);
  });

  test('only OTLP_MMAP_ESM_HOOK=always installs the loader hook', () => {
    expect(esmHookWanted('always')).toBe(true);
    expect(esmHookWanted('auto')).toBe(false);
    expect(esmHookWanted('never')).toBe(false);
  });

  test('the builtins are loaded up front only in auto mode, for an ES-module main', () => {
    const esmMain = path.join(esmPkg, 'src', 'app.js');
    expect(builtinsPreloadWanted('auto', esmMain, [])).toBe(true);
    expect(builtinsPreloadWanted('auto', path.join(cjsPkg, 'a.mjs'), [])).toBe(true);
    expect(builtinsPreloadWanted('auto', undefined, ['--input-type=module'])).toBe(true);
    expect(builtinsPreloadWanted('auto', path.join(cjsPkg, 'app.js'), [])).toBe(false);
    // The loader hook patches builtin imports itself; never asks for nothing up front.
    expect(builtinsPreloadWanted('always', esmMain, [])).toBe(false);
    expect(builtinsPreloadWanted('never', esmMain, [])).toBe(false);
  });
});
