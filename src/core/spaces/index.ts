/** Spaces: membership, roles, invites and the write policy (see model.ts, invite.ts, policy.ts). */
export * from './errors'
export * from './model'
export * from './invite'
export * from './policy'
