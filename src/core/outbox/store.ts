/**
 * The persistent outbox and inbox of identity-addressed messages (see service.ts for delivery),
 * gathered in one place for importers:
 *   outbox-store.ts   the outbox: queued messages, retries, delivery state
 *   inbox-store.ts    the inbox: accepted messages, duplicate markers, age limits
 *   backoff.ts        the retry schedule of failed delivery attempts
 *   stored-message.ts the storage record both keep for a message
 */
export { BACKOFF, backoffDelay } from './backoff'
export {
  Inbox,
  MAX_CLOCK_SKEW_MS,
  MAX_MESSAGE_AGE_MS,
  REMEMBER_MS,
  type InboxEntry,
  type InboxOptions,
} from './inbox-store'
export {
  MAX_REFUSALS,
  Outbox,
  type OutboxEntry,
  type OutboxOptions,
  type OutboxStatus,
} from './outbox-store'
