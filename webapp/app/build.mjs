// Builds the page into webapp/dist: app.js and worker.js bundled by esbuild (ts-mls and
// webapp/sframe included), index.html and app.css copied as files (the CSP forbids inline
// scripts and styles). Run from webapp/: `npm run build`.
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'dist');

await mkdir(out, { recursive: true });
for (const name of await readdir(out)) if (name !== '.gitkeep') await rm(path.join(out, name), { recursive: true });
await build({
  entryPoints: { app: path.join(here, 'main.js'), worker: path.join(here, 'worker.js') },
  bundle: true,
  format: 'esm',
  target: ['chrome120', 'firefox120', 'safari17'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  outdir: out,
  logLevel: 'warning',
});
await copyFile(path.join(here, 'index.html'), path.join(out, 'index.html'));
await copyFile(path.join(here, 'app.css'), path.join(out, 'app.css'));
