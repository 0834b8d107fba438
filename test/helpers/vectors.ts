import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Reads a JSON vector file from test/vectors/. */
export function loadVectors<T = any>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../vectors/${name}`, import.meta.url)), 'utf8')) as T
}

/** Path of the independent statement vectors, read in place from ../shared (never copied). */
export const SHARED_STATEMENT_VECTORS = fileURLToPath(new URL('../../../shared/vectors/action-statements-v2.json', import.meta.url))

export function loadSharedStatementVectors(): any {
  return JSON.parse(readFileSync(SHARED_STATEMENT_VECTORS, 'utf8'))
}
