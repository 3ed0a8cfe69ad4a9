/**
 * `compute` remembered per key, for at most `size` keys: when full, everything is forgotten at
 * once (a hot working set refills in one round; no bookkeeping per hit). Throws are not kept.
 */
export function boundedMemo<T>(size: number, compute: (key: string) => T): (key: string) => T {
  const kept = new Map<string, T>()
  return (key) => {
    let value = kept.get(key)
    if (value === undefined) {
      value = compute(key)
      if (kept.size >= size) {
        kept.clear()
      }
      kept.set(key, value)
    }
    return value
  }
}
