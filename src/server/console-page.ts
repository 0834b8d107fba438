import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { SIG_TYPE_ED25519, encodeVerifierKey, sha256, toBase64, utf8 } from '../core/index.ts'

/**
 * The web console as the log serves it at `/`: the page `npm run build:web`
 * writes (dist/actlog-verify.html), with the log's origin, policy and
 * trusted issuers written into its config element so the page verifies
 * against this log's own trust from the first click.
 */

/** The config element of the built page, exactly as the build writes it; the log replaces it. */
export const CONSOLE_CONFIG_ELEMENT = '<script id="actlog-config" type="application/json">null</script>'

/**
 * Where the build writes the page: dist/ at the package root, whether this
 * module runs from src/server/ or compiled, from dist/src/server/.
 */
export const CONSOLE_FILE = fileURLToPath(
  /\/dist\/src\/server\/[^/]+$/.test(new URL(import.meta.url).pathname) ? new URL('../../actlog-verify.html', import.meta.url) : new URL('../../dist/actlog-verify.html', import.meta.url),
)

/** What the log embeds in the page. */
export interface ConsoleConfig {
  origin: string
  policy: string
  issuers: string
}

/** The page as served, with its Content-Security-Policy. */
export interface ConsolePage {
  html: string
  csp: string
}

/** Returns the built page's text, or undefined when it was not built. */
export function readConsoleTemplate(file = CONSOLE_FILE): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * Returns the page with `config` embedded, and a CSP that lets only its own
 * inline script run (by hash), reads from anywhere (the witnesses' monitoring
 * endpoints are other origins), and loads nothing else. Throws TypeError when
 * `template` has no config element (not a page this build wrote).
 */
export function consolePage(template: string, config: ConsoleConfig): ConsolePage {
  if (!template.includes(CONSOLE_CONFIG_ELEMENT)) throw new TypeError('the console page has no config element; rebuild it with npm run build:web')
  // In a script element only `</script` (and `<!--`) can end or change the
  // element: escaping every `<` keeps the policy's text inert.
  const json = JSON.stringify(config).replace(/</g, '\\u003c')
  const html = template.replace(CONSOLE_CONFIG_ELEMENT, () => `<script id="actlog-config" type="application/json">${json}</script>`)
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => `'sha256-${toBase64(sha256(utf8(m[1]!)))}'`)
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.join(' ')}`,
    "style-src 'unsafe-inline'",
    'connect-src *',
    'img-src data: blob:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
  return { html, csp }
}

/**
 * Returns the console page of a log, or undefined (reported through `log`)
 * when the page was not built. A log without a witness policy embeds the
 * policy its checkpoints satisfy: its own key and quorum none.
 */
export function logConsolePage(o: { origin: string; logPublicKey: Uint8Array; policyText: string | undefined; issuersText: string; log: (line: string) => void }): ConsolePage | undefined {
  const template = readConsoleTemplate()
  if (template === undefined) {
    o.log(`the web console is not built (run npm run build:web to write ${CONSOLE_FILE}); / answers 404`)
    return undefined
  }
  const policy = o.policyText ?? `log ${encodeVerifierKey(o.origin, SIG_TYPE_ED25519, o.logPublicKey)}\nquorum none\n`
  return consolePage(template, { origin: o.origin, policy, issuers: o.issuersText })
}
