import { describe, expect, it } from 'vitest'
import { Slots } from '../../src/worker/slots.ts'

describe('Slots.startedWithin', () => {
  it('counts the requests in flight that started less than that long ago, whatever their destination', () => {
    let now = 0
    const slots = new Slots(8, () => now)
    slots.take(1)
    now = 10
    const second = slots.take(2)
    now = 30
    const third = slots.take(1)
    now = 40
    expect(slots.startedWithin(20)).toBe(1)
    expect(slots.startedWithin(35)).toBe(2)
    expect(slots.startedWithin(50)).toBe(3)
    third()
    expect(slots.startedWithin(20)).toBe(0)
    expect(slots.startedWithin(35)).toBe(1)
    second()
    expect(slots.startedWithin(35)).toBe(0)
    expect(slots.used).toBe(1)
  })
})
