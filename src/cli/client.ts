/** A submission's reply, as the log's POST /add returns it. */
export interface AddReply {
  index: number
  leafHash: string
  checkpoint: string
  proof: string
}

/** An error the log answered with: its status, stable code and message. */
export class LogError extends Error {
  override name = 'LogError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message)
  }
}

/** Returns the base URL without a trailing slash. */
export function baseUrl(url: string): string {
  return url.replace(/\/+$/, '')
}

async function failure(res: Response): Promise<LogError> {
  let code = `HTTP_${res.status}`
  let message = res.statusText
  try {
    const body = (await res.json()) as { code?: string; message?: string }
    code = body.code ?? code
    message = body.message ?? message
  } catch {
    // Not a JSON error body: keep the status line.
  }
  const ra = Number(res.headers.get('retry-after'))
  return new LogError(res.status, code, message, Number.isFinite(ra) && ra > 0 ? ra : undefined)
}

/**
 * Submits one statement and returns the log's reply. Retries on 503 (the log
 * is busy) up to `retries` times, waiting as Retry-After says: resubmitting
 * the same statement is safe, the log answers with the same index.
 */
export async function submitStatement(log: string, entry: Uint8Array, opts: { waitWitnessed?: boolean; retries?: number } = {}): Promise<AddReply> {
  const url = `${baseUrl(log)}/add${opts.waitWitnessed === true ? '?wait=witnessed' : ''}`
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/cose', accept: 'application/json' }, body: entry as Uint8Array<ArrayBuffer> })
    if (res.ok) return (await res.json()) as AddReply
    const err = await failure(res)
    if (err.status !== 503 || attempt >= (opts.retries ?? 5)) throw err
    await new Promise((r) => setTimeout(r, (err.retryAfter ?? 1) * 1000 * (attempt + 1)))
  }
}

/** GETs `path` from the log and returns the body text; throws LogError on a non-2xx answer. */
export async function getText(log: string, path: string): Promise<string> {
  const res = await fetch(`${baseUrl(log)}/${path.replace(/^\//, '')}`)
  if (!res.ok) throw await failure(res)
  return res.text()
}
