/**
 * Typed errors. Every error Orrery raises on purpose has a stable `code` (for programs) and a
 * `name` (for people reading logs). Parsers of network input never throw: they return a Result.
 */
export type ErrorCode =
  | 'INVALID_PATH'
  | 'INVALID_VALUE'
  | 'INVALID_DOC_ID'
  | 'PATH_CONFLICT'
  | 'DOC_NOT_FOUND'
  | 'DOC_CLOSED'
  | 'STORAGE_FULL'
  | 'STORAGE_FAILED'
  | 'IDENTITY_CORRUPT'
  | 'IDENTITY_MISSING'
  | 'BAD_SIGNATURE'
  | 'MALFORMED_MESSAGE'
  | 'MESSAGE_TOO_LARGE'
  | 'PROTOCOL_VIOLATION'
  | 'UNSUPPORTED_VERSION'
  | 'RELAY_UNREACHABLE'
  | 'PEER_UNREACHABLE'
  | 'NOT_READY'
  | 'ABORTED'
  | 'FORBIDDEN'
  | 'INVALID_CID'
  | 'BAD_BLOCK'
  | 'BAD_MANIFEST'
  | 'BLOCKS_UNAVAILABLE'
  | 'BAD_INVITE'
  | 'INVITE_EXPIRED'
  | 'INVITE_EXHAUSTED'
  | 'INVITE_REVOKED'
  | 'NOT_A_MEMBER'
  | 'SPACE_MISMATCH'
  | 'NOT_ALLOWED'
  | 'OWNED_PATH'
  | 'MISSING_DEPS'
  | 'BAD_CIPHERTEXT'
  | 'NO_KEY'
  | 'WRONG_KEY'
  | 'READ_ONLY'

export class OrreryError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'OrreryError'
  }
}

export class InvalidPathError extends OrreryError {
  constructor(message: string) {
    super('INVALID_PATH', message)
    this.name = 'InvalidPathError'
  }
}

export class InvalidValueError extends OrreryError {
  constructor(message: string) {
    super('INVALID_VALUE', message)
    this.name = 'InvalidValueError'
  }
}

export class PathConflictError extends OrreryError {
  constructor(message: string) {
    super('PATH_CONFLICT', message)
    this.name = 'PathConflictError'
  }
}

export class StorageError extends OrreryError {
  constructor(code: 'STORAGE_FULL' | 'STORAGE_FAILED', message: string, cause?: unknown) {
    super(code, message, { cause })
    this.name = 'StorageError'
  }
}

export class IdentityError extends OrreryError {
  constructor(code: 'IDENTITY_CORRUPT' | 'IDENTITY_MISSING' | 'BAD_SIGNATURE', message: string) {
    super(code, message)
    this.name = 'IdentityError'
  }
}

export class ProtocolError extends OrreryError {
  constructor(
    code: 'MALFORMED_MESSAGE' | 'MESSAGE_TOO_LARGE' | 'PROTOCOL_VIOLATION' | 'UNSUPPORTED_VERSION',
    message: string,
  ) {
    super(code, message)
    this.name = 'ProtocolError'
  }
}

/**
 * Encryption failures: a box that does not open (BAD_CIPHERTEXT), a key we do not hold (NO_KEY),
 * a link whose key is not the one this tab holds for the document (WRONG_KEY).
 */
export class CryptoError extends OrreryError {
  constructor(code: 'BAD_CIPHERTEXT' | 'NO_KEY' | 'WRONG_KEY', message: string) {
    super(code, message)
    this.name = 'CryptoError'
  }
}

export type Result<T, E = OrreryError> = { ok: true; value: T } | { ok: false; error: E }

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value })
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error })

/** Turns anything thrown into a readable one-line message. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`
  return String(e)
}
