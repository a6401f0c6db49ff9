/**
 * A lit element that renders at most once per animation frame. Lit renders in a microtask after
 * the first property change: right after the task that changed it, ahead of whatever that task
 * queued (a sync message to answer, a peer's next change). The shell's live views (a document's
 * tree, status, connections) change on every edit; waiting for the frame takes their rendering
 * off a round trip's path and folds every change of one frame into one render (Lit's documented
 * `scheduleUpdate` override). A hidden page gets no frames: a timer renders it anyway.
 */
import { LitElement } from 'lit'

/** the longest a render waits when no frame comes (a hidden page) */
const NO_FRAME_MS = 100

let frame: Promise<void> | undefined

/** Resolves at the next animation frame (one shared request for every element that waits). */
function nextFrame(): Promise<void> {
  frame ??= new Promise<void>((resolve) => {
    const done = (): void => {
      frame = undefined
      clearTimeout(timer)
      resolve()
    }
    const timer = setTimeout(done, NO_FRAME_MS)
    requestAnimationFrame(done)
  })
  return frame
}

export class FrameElement extends LitElement {
  protected override async scheduleUpdate(): Promise<unknown> {
    await nextFrame()
    return super.scheduleUpdate()
  }
}
