/**
 * Fuzzing the outbox protocol's decoder (HELLO, MESSAGE, ACK) with the checks the receiver makes
 * after it: a mutated message that differs in a signed field never verifies, nor a certificate.
 */
import { describe, expect, it } from 'vitest'
import { equalBytes } from '../../src/core/bytes'
import { err, IdentityError } from '../../src/core/errors'
import { identityFromSeed, type Identity } from '../../src/core/identity'
import {
  decodeOutboxFrame,
  encodeOutboxFrame,
  MAX_PAYLOAD_BYTES,
  signMessage,
  verifyMessage,
  type OutboxFrame,
  type OutboxMessage,
} from '../../src/core/outbox/messages'
import { issueTabCert, verifyTabCert, type TabCert } from '../../src/core/tab-cert'
import { fuzz } from './harness'

const [alice, bob] = [1, 2].map((n) => identityFromSeed(new Uint8Array(32).fill(n), 0)) as [
  Identity,
  Identity,
]
const PEER = '12D3KooWGzh5JYcKXxnT1d6vj1RiL2xeYxzBZWdCAZmhqRLcN7pu'
const NOW = 1_750_000_000_000

const messages: OutboxMessage[] = [
  signMessage(alice, {
    to: bob.id,
    kind: 'microblog/mention',
    payload: { post: 'p1', text: 'hi @bob ✓' },
    id: '00112233445566778899aabbccddeeff',
    createdAt: NOW,
  }),
  signMessage(bob, { to: alice.id, kind: 'x', payload: null, createdAt: 0 }),
  signMessage(alice, { to: alice.id, kind: 'a.b-c_d/e', payload: [1, 'two', { three: 3 }] }),
]
const cert = issueTabCert(bob, PEER, 'outbox', NOW)
const frames: OutboxFrame[] = [
  { type: 'hello', version: 1, cert },
  ...messages.map((message) => ({ type: 'message' as const, message })),
  { type: 'ack', id: messages[0]?.id as string, status: 'accepted' },
  { type: 'ack', id: messages[1]?.id as string, status: 'rejected' },
]
const pool = frames.map(encodeOutboxFrame)

const sameSignedFields = (a: OutboxMessage, b: OutboxMessage): boolean =>
  a.id === b.id &&
  a.from === b.from &&
  a.to === b.to &&
  a.kind === b.kind &&
  a.payload === b.payload &&
  a.createdAt === b.createdAt

const sameCert = (a: TabCert, b: TabCert): boolean =>
  equalBytes(a.identityKey, b.identityKey) &&
  a.peerId === b.peerId &&
  a.profileId === b.profileId &&
  a.issuedAt === b.issuedAt

describe('fuzz: outbox frames', () => {
  it('answers every input with a frame or a typed error; no altered message verifies', async () => {
    const report = await fuzz({
      name: 'outbox',
      pool,
      inputs: { firstBytes: [0, 1, 2, 3, 4] },
      // the receiver's path: decode, then the sender's signature (or the tab certificate)
      run: (input) => {
        const d = decodeOutboxFrame(input)
        if (!d.ok) return d
        const f = d.value
        if (f.type === 'message' && !verifyMessage(f.message))
          return err(new IdentityError('BAD_SIGNATURE', 'outbox message does not verify'))
        if (f.type === 'hello') {
          const v = verifyTabCert(f.cert, f.cert.peerId, f.cert.issuedAt)
          if (!v.ok) return v
        }
        return d
      },
      check: (_input, out) => {
        if (!out.ok) return
        const f = out.value
        if (f.type === 'message') {
          expect(messages.some((m) => sameSignedFields(m, f.message))).toBe(true)
          expect(f.message.payload.length).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES)
        }
        if (f.type === 'hello') expect(sameCert(f.cert, cert)).toBe(true)
      },
    })
    expect(report.outcomes.ok).toBeGreaterThan(0)
    expect(report.outcomes.BAD_SIGNATURE).toBeGreaterThan(0)
  })
})
