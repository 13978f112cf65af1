// The CommonJS builds, made fresh for the tests: scripts/build.mjs writes
// dist/index.cjs and miniprogram_dist/index.js into a temporary directory
// (never into the package folder, so a test run leaves the work tree alone),
// once per test process; the directory is removed when the process exits.

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { OUTPUTS, writeBuilds } from '../scripts/build.mjs';

let built = null;

/** `{dir, files: {'dist/index.cjs': absolutePath, 'miniprogram_dist/index.js': …}}` */
export function builtFiles() {
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), 'wxlogin-miniprogram-build-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const paths = writeBuilds(dir);
    built = { dir, files: Object.fromEntries(OUTPUTS.map((file, i) => [file, paths[i]])) };
  }
  return built;
}

/** require() of a freshly built output, e.g. requireBuilt('dist/index.cjs'). */
export function requireBuilt(file) {
  const path = builtFiles().files[file];
  if (!path) throw new Error(`${file} is not a build output (${OUTPUTS.join(', ')})`);
  return createRequire(import.meta.url)(path);
}
