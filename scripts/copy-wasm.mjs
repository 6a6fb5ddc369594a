#!/usr/bin/env node
// Copy the built cores build/*.wasm to dist/build/, so that the facade's one
// literal `new URL('../build/ftheap.wasm', import.meta.url)` resolves both from
// src/ (sources, tests) and from dist/src/ (the compiled, packaged facade).
import { copyFileSync, mkdirSync } from 'node:fs';

const root = new URL('../', import.meta.url);
mkdirSync(new URL('dist/build/', root), { recursive: true });
for (const name of ['ftheap.wasm', 'ftheap.debug.wasm']) {
  copyFileSync(new URL(`build/${name}`, root), new URL(`dist/build/${name}`, root));
}
