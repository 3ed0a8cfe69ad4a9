import { isDataFault } from '../store/faults.ts'

/**
 * Runs `write` over `items` as one batch. When it fails because of what a row holds (see
 * isDataFault), the batch is split in halves and each is written, down to single items, so
 * every item that can be written is; `poisoned` is called once for each item that fails alone.
 * Any other failure (a lost connection, a deadline) is thrown as it is: the batch is about the
 * moment, not its rows, and is tried again whole (each write here must be safe to repeat).
 * Returns the result of each batch written.
 */
export async function writeIsolating<T, R>(
  items: readonly T[],
  write: (batch: readonly T[]) => Promise<R>,
  poisoned: (item: T, error: unknown) => Promise<void>,
): Promise<R[]> {
  const results: R[] = []
  const attempt = async (batch: readonly T[]): Promise<void> => {
    if (batch.length === 0) {
      return
    }
    try {
      results.push(await write(batch))
    } catch (error) {
      if (!isDataFault(error)) {
        throw error
      }
      const [only] = batch
      if (batch.length === 1 && only !== undefined) {
        await poisoned(only, error)
        return
      }
      const half = Math.ceil(batch.length / 2)
      await attempt(batch.slice(0, half))
      await attempt(batch.slice(half))
    }
  }
  await attempt(items)
  return results
}
