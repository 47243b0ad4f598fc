import type { LoadSnapshot } from './load.js'

/** Plain (non-TTY) progress lines come this often, so CI logs stay readable. */
const PLAIN_EVERY_MS = 5_000

export interface Progress {
  /** `label` names what runs now (e.g. 'onion-echo 2/5'); the snapshot is cumulative for that workload. */
  tick: (label: string, snapshot: LoadSnapshot) => void
  /** Ends the live line (TTY) so later output starts on a fresh line. */
  done: () => void
}

const fmtInt = (v: number): string => Math.round(v).toLocaleString('en-US')

function line (label: string, s: LoadSnapshot): string {
  const when = s.warmingUp ? 'warm-up' : `${s.elapsedS.toFixed(0).padStart(3)}s`
  return `[${label}] ${when}  msgs ${fmtInt(s.ops)}  ${fmtInt(s.opsPerS)} msg/s  errors ${fmtInt(s.errors)}`
}

/**
 * Progress on stderr: one line rewritten every second when stderr is a TTY,
 * otherwise a plain line every few seconds. `enabled: false` prints nothing.
 */
export function createProgress (enabled = true, out: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled) return { tick: () => {}, done: () => {} }
  if (out.isTTY === true) {
    let drawn = false
    return {
      tick: (label, s) => {
        out.write(`\r\x1b[K${line(label, s)}`)
        drawn = true
      },
      done: () => {
        if (drawn) out.write('\n')
        drawn = false
      }
    }
  }
  let lastPrinted = 0
  return {
    tick: (label, s) => {
      const now = Date.now()
      if (s.warmingUp || now - lastPrinted < PLAIN_EVERY_MS) return
      lastPrinted = now
      out.write(line(label, s) + '\n')
    },
    done: () => {}
  }
}
