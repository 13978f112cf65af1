// Build the CommonJS copies of src/index.js, without any dependency:
//
//   dist/index.cjs              for Node / bundlers (`require`, package.json "main")
//   miniprogram_dist/index.js   for WeChat's "build npm" and for copying into a
//                               mini program: its toolchain only takes `.js`
//                               files (a `.cjs` entry is looked up as `.cjs.js`)
//
// Both are build outputs, not committed (git-ignored): `npm pack` / `npm publish`
// make them (the `prepack` script), and the tests build their own copies into a
// temporary directory (test/built.js) and run them.
//
// The source only uses `export function|class|const NAME` (no imports, no
// default export), so the transform is textual: drop `export `, then list the
// names in `module.exports`. Anything else is refused rather than mistranslated.
//
//   node scripts/build.mjs             write dist/ and miniprogram_dist/ here
//   node scripts/build.mjs --out DIR   write them under DIR instead

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SOURCE = 'src/index.js';
export const OUTPUTS = ['dist/index.cjs', 'miniprogram_dist/index.js'];

/** ESM source text → CommonJS text. Throws on a construct it does not handle. */
export function toCommonJs(source) {
  const names = [];
  const body = source.replace(
    /^export (function|class|const|async function) ([A-Za-z_$][\w$]*)/gm,
    (_, kind, name) => {
      names.push(name);
      return `${kind} ${name}`;
    },
  );
  const leftover = body.match(/^\s*(import|export)\b.*$/m);
  if (leftover) {
    throw new Error(`${SOURCE}: cannot convert \`${leftover[0].trim()}\`; use export function|class|const`);
  }
  if (names.length === 0) throw new Error(`${SOURCE}: no exports found`);
  return [
    `// GENERATED from ${SOURCE} by scripts/build.mjs: edit the source, then run \`npm run build\`.`,
    `'use strict';`,
    ``,
    body.trimEnd(),
    ``,
    `module.exports = { ${names.join(', ')} };`,
    ``,
  ].join('\n');
}

/** What every output file must contain. */
export function build() {
  return toCommonJs(readFileSync(join(root, SOURCE), 'utf8'));
}

/**
 * Write every output under `dir` (default: the package folder), creating the
 * folders. Returns the absolute paths written, in the order of OUTPUTS.
 */
export function writeBuilds(dir = root) {
  const output = build();
  return OUTPUTS.map((file) => {
    const path = resolve(dir, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, output);
    return path;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
  const dir = values.out === undefined ? root : resolve(values.out);
  // On stderr: `npm pack --json` runs this as prepack and prints its JSON on stdout.
  for (const path of writeBuilds(dir)) console.error(`wrote ${relative(process.cwd(), path) || path}`);
}
