import { describe, expect, it } from 'vitest'
import { Slots } from '../../src/worker/slots.ts'

describe('Slots.endingSoon', () => {
  it('counts young requests to destinations whose last request was quick, none to others', () => {
    let now = 0
    const slots = new Slots(8, () => now)
    // Before any request has ended, none counts.
    const quick = slots.take(1)
    expect(slots.endingSoon(20)).toBe(0)
    // Destination 1 answered its last request in 5 ms; destination 2 in 400 ms; 3 never did
    // (judged by the average here, pulled above 20 ms by destination 2).
    now = 5
    quick()
    const slow = slots.take(2)
    now = 405
    slow()
    expect(slots.endingSoon(20)).toBe(0)

    slots.take(1)
    slots.take(2)
    slots.take(3)
    now = 415
    const second = slots.take(1)
    now = 420
    // Destination 1's two requests are 15 and 5 ms old; 2 and 3 count for none however young.
    expect(slots.endingSoon(20)).toBe(2)
    expect(slots.endingSoon(10)).toBe(1)
    now = 430
    // The older one is now 25 ms old: overdue for a destination that answers in 5 ms.
    expect(slots.endingSoon(20)).toBe(1)
    second()
    expect(slots.endingSoon(20)).toBe(0)
    expect(slots.used).toBe(3)
  })

  it('judges a destination by its last request: one that slowed down stops counting', () => {
    let now = 0
    const slots = new Slots(4, () => now)
    const first = slots.take(7)
    now = 2
    first()
    slots.take(7)
    expect(slots.endingSoon(20)).toBe(1)
    const slowed = slots.take(7)
    now = 300
    slowed()
    slots.take(7)
    expect(slots.endingSoon(20)).toBe(0)
  })

  it('judges a destination that has not answered yet by how long requests take here', () => {
    let now = 0
    const slots = new Slots(4, () => now)
    const first = slots.take(1)
    now = 3
    first()
    // Destination 9 is new; requests here take 3 ms: its young request counts.
    slots.take(9)
    expect(slots.endingSoon(20)).toBe(1)
  })
})
