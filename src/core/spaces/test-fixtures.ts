/** Shared fixtures for the spaces tests: fixed identities, a space id and space values. */
import { toBase58 } from '../bytes'
import { identityFromSeed, type Identity } from '../identity'
import {
  newSpaceValue,
  readSpace,
  type MemberValue,
  type SpaceState,
  type SpaceValue,
} from './model'

export const id = (n: number): Identity => identityFromSeed(new Uint8Array(32).fill(n), 0)

export const ada = id(1) // admin, creator
export const wes = id(2) // writer
export const rae = id(3) // reader
export const rex = id(4) // removed (was a writer)
export const nia = id(5) // newcomer
export const mal = id(6) // stranger
export const ned = id(7) // another newcomer

export const SPACE = toBase58(new Uint8Array(16).fill(7))
export const OTHER_SPACE = toBase58(new Uint8Array(16).fill(8))
export const DOC = toBase58(new Uint8Array(16).fill(9))
export const DOC2 = toBase58(new Uint8Array(16).fill(10))
export const T0 = 1_750_000_000_000
export const HOUR = 3600 * 1000

export const member = (role: MemberValue['role'], by: Identity = ada): MemberValue => ({
  role,
  addedBy: by.id,
  addedAt: T0,
})

/** ada (admin), wes (writer), rae (reader), rex (writer, removed with a cutoff on DOC and SPACE). */
export function teamValue(): SpaceValue {
  const v = newSpaceValue('Team', ada, T0)
  v.members[wes.id] = member('writer')
  v.members[rae.id] = member('reader')
  v.members[rex.id] = member('writer')
  v.removed[rex.id] = {
    by: ada.id,
    at: T0 + 1,
    cutoff: { [DOC]: { aaaa: 5 }, [SPACE]: { bbbb: 2 } },
  }
  return v
}

export const team = (): SpaceState => readSpace(teamValue(), SPACE)
