import { execFileSync } from 'node:child_process'
import { freePort } from '../../scripts/shared/free-port.ts'

/** One sample per series, keyed as written: `name{label="value",…}` (labels in the order given). */
export type Samples = Map<string, number>

/** The samples of a Prometheus text-format exposition (comments skipped). */
export function parseSamples(text: string): Samples {
  const samples: Samples = new Map()
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line)
    if (match?.[1] !== undefined && match[2] !== undefined) {
      samples.set(match[1], Number(match[2]))
    }
  }
  return samples
}

/** GET `url`/metrics: the text and its samples. */
export async function scrape(url: string): Promise<{ text: string; samples: Samples }> {
  const response = await fetch(`${url}/metrics`)
  if (response.status !== 200) {
    throw new Error(`/metrics answered ${response.status}`)
  }
  const text = await response.text()
  return { text, samples: parseSamples(text) }
}

/** The value of `key` in `after` minus that in `before` (a missing series counts as 0). */
export function moved(before: Samples, after: Samples, key: string): number {
  return (after.get(key) ?? 0) - (before.get(key) ?? 0)
}

/** The path of an installed program, or undefined. */
export function installed(program: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** Why a test that needs `program` (from Debian's prometheus package) is skipped. */
export const missing = (program: string) =>
  `${program} is not installed (Debian package prometheus; .ci/run installs it)`

export { freePort }
