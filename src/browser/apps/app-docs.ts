/** Which documents belong to which app, in IndexedDB (an app reaches only its own documents). */
import type { OrreryDb } from '../db'

export class AppDocs {
  constructor(private readonly db: OrreryDb) {}

  async add(appKey: string, docId: string): Promise<void> {
    await this.db.appDocs.put({ appKey, docId, addedAt: Date.now() })
  }

  async list(appKey: string): Promise<string[]> {
    const rows = await this.db.appDocs.where('appKey').equals(appKey).toArray()
    return rows.sort((a, b) => b.addedAt - a.addedAt).map((r) => r.docId)
  }

  async owns(appKey: string, docId: string): Promise<boolean> {
    return (await this.db.appDocs.get([appKey, docId])) !== undefined
  }
}
