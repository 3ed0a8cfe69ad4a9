import type { Io } from './io.ts'

export type ProgressBar = { update(done: number, total: number): void }

const WIDTH = 30
// Cursor up one line, clear it: io.err ends every write with a newline, so each update
// rewrites the line the previous one left.
const REWRITE = '\x1b[1A\x1b[2K'

/** `replayed 3500/10000 [=========>                    ]` on stderr, redrawn in place. */
export function formatProgress(label: string, done: number, total: number): string {
  const ratio = total === 0 ? 1 : Math.min(1, done / total)
  const filled = Math.round(ratio * WIDTH)
  const bar = filled >= WIDTH ? '='.repeat(WIDTH) : `${'='.repeat(filled)}>${' '.repeat(WIDTH - filled - 1)}`
  return `${label} ${done}/${total} [${bar}]`
}

/** A progress bar for terminals; the caller decides whether there is one (io.isTTY). */
export function createProgressBar(io: Io, label: string): ProgressBar {
  let drawn = false
  return {
    update(done, total) {
      io.err(`${drawn ? REWRITE : ''}${formatProgress(label, done, total)}`)
      drawn = true
    },
  }
}
