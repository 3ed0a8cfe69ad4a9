import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

describe('the command piped into a reader that stops early', () => {
  it('exits 0 quietly instead of crashing on EPIPE', () => {
    // `true` exits before node starts writing, so the writes meet a closed pipe.
    const result = spawnSync(
      'bash',
      ['-c', `"${process.execPath}" src/cli/main.ts --help | true; echo "status=\${PIPESTATUS[0]}"`],
      { encoding: 'utf8' },
    )
    expect(result.stdout.trim()).toBe('status=0')
    expect(result.stderr).not.toMatch(/EPIPE|Error/)
  })
})
