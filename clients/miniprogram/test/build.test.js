// The committed CommonJS builds are up to date, parse as ES2017 (what the mini
// program toolchain's parser takes), and the types name every export.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse } from 'acorn';

import { build, OUTPUTS, toCommonJs } from '../scripts/build.mjs';
import * as esm from '../src/index.js';

const read = (file) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');

test('dist/index.cjs and miniprogram_dist/index.js are built from src/index.js', () => {
  const expected = build();
  for (const file of OUTPUTS) {
    assert.equal(read(file), expected, `${file} is stale: run \`npm run build\``);
  }
});

test('the builds are plain ES2017 scripts; the source an ES2017 module', () => {
  for (const file of OUTPUTS) {
    assert.doesNotThrow(() => parse(read(file), { ecmaVersion: 2017, sourceType: 'script' }), file);
  }
  assert.doesNotThrow(() => parse(read('src/index.js'), { ecmaVersion: 2017, sourceType: 'module' }));
});

test('CommonJS and ES module export the same names', () => {
  const cjs = createRequire(import.meta.url)('../dist/index.cjs');
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  assert.equal(cjs.TOKEN_KEY, 'wxlogin_token');
});

test('index.d.ts declares every export', () => {
  const declared = [...read('index.d.ts').matchAll(/^export declare (?:const|class|function) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(declared.sort(), Object.keys(esm).sort());
});

test('the build refuses what it cannot convert', () => {
  assert.throws(() => toCommonJs("import x from 'y';\nexport const a = 1;\n"), /cannot convert/);
  assert.throws(() => toCommonJs('export default function () {}\n'), /cannot convert/);
  assert.throws(() => toCommonJs('const a = 1;\n'), /no exports/);
  assert.equal(
    toCommonJs('export const a = 1;\nexport function b() {}\n').split('\n').slice(-3).join('\n'),
    '\nmodule.exports = { a, b };\n',
  );
});
