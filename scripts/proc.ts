/**
 * Small process and port helpers shared by the scripts (benchmark,
 * reliability runs) and the tests that start real servers.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

/** Picks a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/**
 * Returns a memory field of `/proc/<pid>/status` (e.g. `VmRSS`, `VmHWM`) in
 * bytes, or undefined when the process or the field is not there (Linux only).
 */
export function procStatusBytes(pid: number | undefined, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}
