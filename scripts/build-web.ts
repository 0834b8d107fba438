/**
 * Builds the web console (src/web) into one self-contained HTML file,
 * dist/actlog-verify.html: the script and the stylesheet inline, no request
 * at run time, so the file verifies proofs when opened from disk with no
 * network. The log serves the same file at `/` (src/server/console-page.ts).
 *
 * Usage: tsx scripts/build-web.ts   (npm run build:web)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { CONSOLE_CONFIG_ELEMENT, CONSOLE_FILE } from '../src/server/console-page.ts'

const ENTRY = fileURLToPath(new URL('../src/web/main.ts', import.meta.url))
const CSS = fileURLToPath(new URL('../src/web/style.css', import.meta.url))

/** The console's built page and what went into its script. */
export interface ConsoleBuild {
  html: string
  /** Source files bundled, relative to the repository root. */
  inputs: string[]
}

/** Returns the console page: the bundled script (browser, ES2022, minified) and the stylesheet inline. */
export async function buildConsole(): Promise<ConsoleBuild> {
  const r = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  const js = r.outputFiles[0]!.text
  // esbuild escapes `</script` in its output; a script that still held one
  // would end its element early, so the build refuses it.
  if (/<\/script/i.test(js) || /<!--/.test(js)) throw new Error('the console script contains </script or <!--; it cannot be inlined')
  const css = readFileSync(CSS, 'utf8')
  const html = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<link rel="icon" href="data:,">',
    '<title>actlog console</title>',
    `<style>${css}</style>`,
    CONSOLE_CONFIG_ELEMENT,
    '</head>',
    '<body>',
    '<noscript>The actlog console verifies proofs with JavaScript, in this browser; enable it for this page.</noscript>',
    `<script>${js}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n')
  return { html, inputs: Object.keys(r.metafile.inputs) }
}

/** Builds the page and writes it to dist/actlog-verify.html; returns the path. */
export async function writeConsole(file = CONSOLE_FILE): Promise<string> {
  const { html } = await buildConsole()
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, html)
  return file
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = await writeConsole()
  console.log(`wrote ${file} (${readFileSync(file).length} bytes)`)
}
