import { webCryptoEd25519Available } from '../core/index.ts'

/** What verifies signatures in this runtime. */
export interface RuntimeInfo {
  /**
   * `webcrypto` when the runtime's WebCrypto verifies Ed25519 (probed with a
   * real signature), which is then what every verification uses; `noble`
   * when verification falls back to @noble/ed25519. Both follow the same
   * Ed25519 rule (DESIGN.md), so verdicts do not depend on it; speed does.
   */
  ed25519: 'webcrypto' | 'noble'
}

/**
 * Returns which Ed25519 implementation verifies in this runtime under core's
 * default `auto` backend. Lets a browser page or a benchmark confirm that
 * the platform's WebCrypto, not the fallback, is what was tested.
 */
export async function runtimeInfo(): Promise<RuntimeInfo> {
  return { ed25519: (await webCryptoEd25519Available()) ? 'webcrypto' : 'noble' }
}
