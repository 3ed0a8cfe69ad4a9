/** Marks an example event sent from the API (contract section 1); absent on render events. */
export const TEST_HEADER = 'x-imtegrate-test'

/** The headers of an attempt besides the signature headers and those every request carries. */
export function deliveryHeaders(delivery: {
  id: string
  type: string
  attempt: number
  test: boolean
}): Record<string, string> {
  return {
    'x-imtegrate-delivery-id': delivery.id,
    'x-imtegrate-event-type': delivery.type,
    'x-imtegrate-attempt': String(delivery.attempt),
    ...(delivery.test ? { [TEST_HEADER]: 'true' } : {}),
  }
}
