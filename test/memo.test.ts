import { describe, expect, it } from 'vitest'
import { boundedMemo } from '../src/memo.ts'

describe('boundedMemo', () => {
  it('computes once per key, forgets everything when full, and keeps no throw', () => {
    const calls: string[] = []
    const upper = boundedMemo(2, (key) => {
      calls.push(key)
      if (key === 'bad') {
        throw new Error('no')
      }
      return key.toUpperCase()
    })
    expect([upper('a'), upper('a'), upper('b'), upper('b')]).toEqual(['A', 'A', 'B', 'B'])
    expect(calls).toEqual(['a', 'b'])
    upper('c') // full: a and b are forgotten
    upper('a')
    expect(calls).toEqual(['a', 'b', 'c', 'a'])
    expect(() => upper('bad')).toThrow('no')
    expect(() => upper('bad')).toThrow('no')
    expect(calls.filter((key) => key === 'bad')).toHaveLength(2)
  })
})
