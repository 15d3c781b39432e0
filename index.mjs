// ESM entry: the same API as index.js.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const impl = require('./index.js');

export const openRecorder = impl.openRecorder;
export const openReader = impl.openReader;
export const openCollector = impl.openCollector;
export const defaultRecorderOptions = impl.defaultRecorderOptions;
export const loadNative = impl.loadNative;
export const platformTriple = impl.platformTriple;
export default impl;
