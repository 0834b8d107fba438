/**
 * What a log writes into the page it serves (a JSON script element with id
 * `actlog-config`): its origin, its tlog-policy and its trusted issuers, so
 * the console verifies against the serving log's own trust without the
 * reader pasting files. The static build carries `null` there.
 */
export interface ConsoleConfig {
  /** The serving log's origin. */
  origin: string
  /** The log's tlog-policy text. */
  policy: string
  /** The log's trusted-issuers text. */
  issuers: string
}

/** Returns the configuration the serving log embedded, or undefined for the static page (or a malformed one). */
export function readConfig(doc: Document): ConsoleConfig | undefined {
  const el = doc.getElementById('actlog-config')
  if (el === null) return undefined
  try {
    const v: unknown = JSON.parse(el.textContent ?? 'null')
    if (typeof v !== 'object' || v === null) return undefined
    const c = v as Record<string, unknown>
    if (typeof c.origin !== 'string' || typeof c.policy !== 'string' || typeof c.issuers !== 'string') return undefined
    return { origin: c.origin, policy: c.policy, issuers: c.issuers }
  } catch {
    return undefined
  }
}
