/** Errors of the spaces layer: invites, membership and the write policy. */
import { OrreryError } from '../errors'

export type SpaceErrorCode =
  | 'BAD_INVITE'
  | 'BAD_SIGNATURE'
  | 'INVITE_EXPIRED'
  | 'INVITE_EXHAUSTED'
  | 'INVITE_REVOKED'
  | 'NOT_A_MEMBER'
  | 'NOT_ALLOWED'
  | 'OWNED_PATH'
  | 'INVALID_VALUE'

export class SpaceError extends OrreryError {
  declare readonly code: SpaceErrorCode
  constructor(code: SpaceErrorCode, message: string) {
    super(code, message)
    this.name = 'SpaceError'
  }
}
