// Jest global setup: make sure the native addon and the compiled TypeScript exist
// (child processes run dist/ code), then start shared servers lazily per suite.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function globalSetup() {
  const root = path.join(__dirname, '..', '..');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.js')], { cwd: root, stdio: 'inherit' });
};
