// Build the CommonJS copies of src/index.js, without any dependency:
//
//   dist/index.cjs              for Node / bundlers (`require`, package.json "main")
//   miniprogram_dist/index.js   for WeChat's "build npm" and for copying into a
//                               mini program: its toolchain only takes `.js`
//                               files (a `.cjs` entry is looked up as `.cjs.js`)
//
// The source only uses `export function|class|const NAME` (no imports, no
// default export), so the transform is textual: drop `export `, then list the
// names in `module.exports`. Anything else is refused rather than mistranslated.
//
//   node scripts/build.mjs           write the files
//   node scripts/build.mjs --check   fail if the committed files are stale

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const output = build();
  if (process.argv.includes('--check')) {
    const stale = OUTPUTS.filter((file) => {
      try {
        return readFileSync(join(root, file), 'utf8') !== output;
      } catch {
        return true;
      }
    });
    if (stale.length) {
      console.error(`stale: ${stale.join(', ')}; run \`npm run build\` in clients/miniprogram`);
      process.exit(1);
    }
  } else {
    for (const file of OUTPUTS) {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      writeFileSync(join(root, file), output);
      console.log(`wrote ${file}`);
    }
  }
}
