/**
 * Fuzzing the sync protocol's decoder (HELLO, INTEREST, SYNC, GOODBYE) and the tab certificates
 * its HELLO carries: no mutated certificate that differs in a signed field ever verifies.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { am } from '../../src/core/automerge'
import { bytesToHex, concatBytes, equalBytes, sha256, toBase58, utf8 } from '../../src/core/bytes'
import { identityFromSeed, sign, type Identity } from '../../src/core/identity'
import { signChange } from '../../src/core/repo/governance'
import {
  decodeSyncFrame,
  encodeSyncFrame,
  MAX_TOPICS_PER_MESSAGE,
  type SyncFrame,
} from '../../src/core/sync/messages'
import { issueTabCert, verifyTabCert, type TabCert } from '../../src/core/tab-cert'
import { fuzz, worstCase } from './harness'

const ids = [1, 2, 3].map((n) => identityFromSeed(new Uint8Array(32).fill(n), 0))
const PEERS = [
  '12D3KooWGzh5JYcKXxnT1d6vj1RiL2xeYxzBZWdCAZmhqRLcN7pu',
  '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK',
]
const NOW = 1_750_000_000_000
/** the most signatures a SYNC frame may carry (MAX_SIGS in sync/messages.ts) */
const MAX_SIGS = 65_536
const DOC = toBase58(new Uint8Array(16).fill(9))

function syncMessage(): { message: Uint8Array; hashes: string[] } {
  const a = am().create({ actor: 'aa'.repeat(16) })
  a.put('_root', 'title', 'hello')
  a.commit(undefined, 0)
  const list = a.putObject('_root', 'items', [1, 2, 3])
  a.insert(list, 0, 'x'.repeat(100))
  a.commit(undefined, 0)
  const b = am().create({ actor: 'bb'.repeat(16) })
  const sa = am().initSyncState()
  const sb = am().initSyncState()
  // a few rounds, so the pool has both the first (heads only) and later (changes) messages
  const out: Uint8Array[] = []
  for (let i = 0; i < 3; i++) {
    const m = a.generateSyncMessage(sa)
    if (m !== null) {
      out.push(m)
      b.receiveSyncMessage(sb, m)
    }
    const back = b.generateSyncMessage(sb)
    if (back !== null) a.receiveSyncMessage(sa, back)
  }
  const hashes = a.getChangesMeta([]).map((c) => c.hash)
  a.free()
  b.free()
  return { message: out.at(-1) as Uint8Array, hashes }
}

const { message, hashes } = syncMessage()
const certs: TabCert[] = [
  issueTabCert(ids[0] as Identity, PEERS[0] as string, 'profile-abc', NOW),
  issueTabCert(ids[1] as Identity, PEERS[1] as string, 'outbox', NOW - 1000),
  issueTabCert(ids[2] as Identity, PEERS[0] as string, '', NOW + 5),
]
const frames: SyncFrame[] = [
  ...certs.map((cert) => ({ type: 'hello' as const, version: 1, cert })),
  { type: 'interest', topics: [sha256(utf8('a')), sha256(utf8('b'))] },
  { type: 'interest', topics: [] },
  {
    type: 'sync',
    docId: DOC,
    message,
    sigs: hashes.map((h, i) => signChange(ids[i % 3] as Identity, h)),
  },
  { type: 'sync', docId: DOC, message: new Uint8Array([0x42, 1, 2]), sigs: [] },
  { type: 'goodbye', reason: 'same profile' },
  { type: 'goodbye', reason: 'ünïcödé ✓' },
  { type: 'presence', docId: DOC, state: { seq: 7, here: true, name: 'Ada' } },
  {
    type: 'presence',
    docId: DOC,
    state: {
      seq: 8,
      here: true,
      name: 'Zoë ✓',
      selection: { path: ['text'], anchor: `12@${'ab'.repeat(16)}`, head: 'e' },
    },
  },
  { type: 'presence', docId: DOC, state: { seq: 9, here: false, name: '' } },
]
const pool = frames.map(encodeSyncFrame)

/** the fields a certificate's signature covers, equal */
const sameSignedFields = (a: TabCert, b: TabCert): boolean =>
  equalBytes(a.identityKey, b.identityKey) &&
  a.peerId === b.peerId &&
  a.profileId === b.profileId &&
  a.issuedAt === b.issuedAt

describe('fuzz: sync frames', () => {
  it('answers every input with a frame or a typed error; no altered certificate verifies', async () => {
    const report = await fuzz({
      name: 'sync',
      pool,
      inputs: { firstBytes: [0, 1, 2, 3, 4, 5] },
      run: (input) => {
        const d = decodeSyncFrame(input)
        if (!d.ok || d.value.type !== 'hello') return d
        // what a session does with a HELLO: the certificate, for the peer it names
        const c = d.value.cert
        const v = verifyTabCert(c, c.peerId, c.issuedAt)
        return v.ok ? d : v
      },
      check: (_input, out) => {
        if (!out.ok) return
        const f = out.value
        if (f.type === 'hello') {
          expect(certs.some((c) => sameSignedFields(c, f.cert))).toBe(true)
        }
        if (f.type === 'sync') expect(f.docId.length).toBeGreaterThan(0)
      },
    })
    expect(report.outcomes.MALFORMED_MESSAGE).toBeGreaterThan(0)
    expect(report.outcomes.ok).toBeGreaterThan(0)
  })

  it('decodes the largest INTEREST its limits allow within the time and allocation limits', async () => {
    const topics = new Array<Uint8Array>(MAX_TOPICS_PER_MESSAGE).fill(sha256(utf8('t')))
    const interest = encodeSyncFrame({ type: 'interest', topics })
    await worstCase(`interest with ${MAX_TOPICS_PER_MESSAGE} topics`, () =>
      decodeSyncFrame(interest),
    )
  })

  // 65,536 signatures (8 MiB) decode into one compact list (one copy of the records): three small
  // ArrayBuffers a signature cost 68.7 MiB and 254 ms of CPU (see SECURITY.md).
  it('decodes the largest SYNC its limits allow within the time and allocation limits', async () => {
    const sig = signChange(ids[0] as Identity, hashes[0] as string)
    const most = encodeSyncFrame({
      type: 'sync',
      docId: DOC,
      message,
      sigs: new Array<typeof sig>(MAX_SIGS).fill(sig),
    })
    const decoded = decodeSyncFrame(most)
    expect(decoded.ok && decoded.value.type === 'sync' && decoded.value.sigs.length).toBe(MAX_SIGS)
    await worstCase(`sync with ${MAX_SIGS} signatures`, () => decodeSyncFrame(most))
  })

  it('decodes the largest SYNC and looks a change up in its signatures within the limits', async () => {
    // a governed document looks its changes up by hash: the first lookup indexes every record,
    // so the worst case is 65,536 different hashes (the decoder does not verify them)
    const sig = signChange(ids[0] as Identity, hashes[0] as string)
    const sigs = Array.from({ length: MAX_SIGS }, (_, i) => {
      const hash = sig.hash.slice()
      new DataView(hash.buffer).setUint32(0, i)
      return { ...sig, hash }
    })
    const most = encodeSyncFrame({ type: 'sync', docId: DOC, message, sigs })
    const last = bytesToHex((sigs.at(-1) as typeof sig).hash)
    const decodeAndLookUp = (): boolean => {
      const d = decodeSyncFrame(most)
      return d.ok && d.value.type === 'sync' && d.value.sigs.get(last) !== undefined
    }
    expect(decodeAndLookUp()).toBe(true)
    await worstCase(`sync with ${MAX_SIGS} signatures, one looked up`, decodeAndLookUp)
  })
})

// ---- tab certificates, field by field ----------------------------------------------------------

/** The bytes a v1 certificate signs: what any build (or a hand-made signer) signs for these fields. */
const certBytes = (key: Uint8Array, peerId: string, profileId: string, at: number): Uint8Array =>
  concatBytes([utf8('orrery/tab-cert/v1\n'), key, utf8(`\n${peerId}\n${profileId}\n${at}`)])

/** a certificate for any field values, signed over the v1 bytes (as an older build would) */
function signedCert(who: Identity, peerId: string, profileId: string, at: number): TabCert {
  const signature = sign(who, certBytes(who.publicKey, peerId, profileId, at))
  return { identityKey: who.publicKey, peerId, profileId, issuedAt: at, signature }
}

/** field text with the separators that matter: newlines, and digits (issuedAt is decimal) */
const fieldArb = fc.array(fc.constantFrom('a', 'Z', '1', '0', '\n', ' ', '-', 'é'), {
  maxLength: 12,
})

describe('fuzz: tab certificates', () => {
  it('never verifies a certificate whose signed fields were changed (500 field changes)', () => {
    fc.assert(
      fc.property(
        fieldArb,
        fieldArb,
        fc.nat(2),
        fc.nat(),
        fc.nat(),
        (peerChars, profileChars, kind, p, q) => {
          const who = ids[0] as Identity
          const peerId = peerChars.join('')
          const profileId = profileChars.join('')
          const cert = signedCert(who, peerId, profileId, NOW)
          // move the boundary between peerId and profileId, or change one character
          const joined = `${peerId}\n${profileId}`
          let forged: TabCert
          if (kind === 0) {
            const cut = p % (joined.length + 1)
            forged = { ...cert, peerId: joined.slice(0, cut), profileId: joined.slice(cut + 1) }
          } else if (kind === 1) {
            const s = joined.split('')
            const at = p % s.length
            s[at] = ['\n', 'a', '1'][q % 3] as string
            const parts = s.join('').split('\n')
            const cut = 1 + (q % Math.max(1, parts.length - 1))
            forged = {
              ...cert,
              peerId: parts.slice(0, cut).join('\n'),
              profileId: parts.slice(cut).join('\n'),
            }
          } else {
            forged = { ...cert, issuedAt: NOW + (q % 3) - 1, profileId: `${profileId}${p % 10}` }
          }
          const checked = verifyTabCert(forged, forged.peerId, NOW)
          if (checked.ok) expect(sameSignedFields(forged, cert)).toBe(true)
          else expect(checked.error.code).toBe('BAD_SIGNATURE')
        },
      ),
      { seed: 0x7ab, numRuns: 500 },
    )
  })
})
