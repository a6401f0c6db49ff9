/**
 * A free document's log on the mirror (src/core/mirror/free-doc.ts): its list is signed by the
 * document's writer key, so the mirror takes envelopes there from identities let in with the
 * write secret only; a reader, or anyone else who knows the tag, is refused with nothing stored.
 */
import { describe, expect, it } from 'vitest'
import { randomKey } from '../../src/core/keys/aead'
import { writeKeyFromPublic, writeKeyFromSecret } from '../../src/core/keys/write-key'
import { freeDocEntry, freeDocRosterId } from '../../src/core/mirror/free-doc'
import { encodeAdmission, keyHex, signPass } from '../../src/core/mirror/roster'
import { sign } from '../../src/core/identity'
import { newMirrorDoc } from '../../test/mirror-doc'
import { ann, bob, code, eve, k, must, seal, tempStores } from './test-spaces'

const { openStore } = tempStores('orrery-mirror-free-')

describe("a free document's log on the mirror", () => {
  it("takes its writers' envelopes, let in on the write secret, and nobody else's", async () => {
    const store = await openStore()
    const doc = newMirrorDoc()
    const writer = writeKeyFromSecret(doc.docId, randomKey())
    const id = freeDocRosterId(doc.docId, doc.readKey, writer.pub)
    expect(code(await store.put(seal(bob, 1, doc, id)))).toBe('NOT_A_MEMBER') // no list yet
    const entry = freeDocEntry(doc.docId, doc.readKey, writer, bob.publicKey)!
    must(await store.rosters.put(entry.roster))
    expect(code(await store.put(seal(bob, 2, doc, id)))).toBe('NOT_A_MEMBER') // not let in yet
    must(await store.rosters.admit(entry.admission))
    expect(must(await store.rosters.roleOf(keyHex(id), k(bob)))).toBe('writer')
    expect(code(await store.put(seal(bob, 3, doc, id)))).toBe('ok')
    // a second writer (another edit link's holder): the list again is refused, harmlessly
    const second = freeDocEntry(doc.docId, doc.readKey, writer, ann.publicKey)!
    expect(code(await store.rosters.put(second.roster))).not.toBe('ok')
    must(await store.rosters.admit(second.admission))
    expect(code(await store.put(seal(ann, 1, doc, id)))).toBe('ok')
    // eve knows the tag and the writer's public key, not the secret
    expect(code(await store.put(seal(eve, 1, doc, id)))).toBe('NOT_A_MEMBER')
    const forged = freeDocEntry(
      doc.docId,
      doc.readKey,
      writeKeyFromSecret(doc.docId, randomKey()),
      eve.publicKey,
    )!
    expect(code(await store.rosters.admit(forged.admission))).not.toBe('ok') // another list's
    // a pass she signs herself for the real list: she may grant nothing there
    const fake = encodeAdmission({
      roster: id,
      inviter: eve.publicKey,
      invitePub: eve.publicKey,
      role: 'writer',
      expiresAt: Date.now() + 60_000,
      maxUses: 10,
      pass: signPass(eve, id, eve.publicKey, 'writer', Date.now() + 60_000, 10),
      newcomer: eve.publicKey,
      proof: sign(eve, new Uint8Array(0)),
    })
    expect(code(await store.rosters.admit(fake))).not.toBe('ok')
    expect(code(await store.put(seal(eve, 2, doc, id)))).toBe('NOT_A_MEMBER')
    expect((await store.since(doc.tag, 0, 100, id)).length).toBe(2) // bob's and ann's
  })

  it('a reader cannot make the list or an admission, and its own list is another log', () => {
    const doc = newMirrorDoc()
    const writer = writeKeyFromSecret(doc.docId, randomKey())
    const reader = writeKeyFromPublic(writer.pub)
    expect(freeDocEntry(doc.docId, doc.readKey, reader, eve.publicKey)).toBeUndefined()
    const own = writeKeyFromSecret(doc.docId, randomKey())
    const theirs = freeDocRosterId(doc.docId, doc.readKey, own.pub)
    expect(theirs).not.toEqual(freeDocRosterId(doc.docId, doc.readKey, writer.pub))
    // and the list's id needs the read key: another key, another id
    expect(freeDocRosterId(doc.docId, randomKey(), writer.pub)).not.toEqual(
      freeDocRosterId(doc.docId, doc.readKey, writer.pub),
    )
  })
})
