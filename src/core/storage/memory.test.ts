import { describeStorageAdapter } from '../../../test/storage-acceptance'
import { MemoryStorageAdapter } from './memory'

describeStorageAdapter('MemoryStorageAdapter', () => ({ adapter: new MemoryStorageAdapter() }))
