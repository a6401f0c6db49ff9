/** Styles every Microblog component shares (the shell's look, kept inside the app bundle). */
import { css } from 'lit'

export const shared = css`
  :host {
    display: block;
    font:
      14px/1.45 system-ui,
      sans-serif;
    color: var(--fg, #1d2330);
  }
  button {
    font: inherit;
    padding: 4px 10px;
    border: 1px solid #9aa3b5;
    border-radius: 6px;
    background: #fff;
    cursor: pointer;
  }
  button:disabled {
    opacity: 0.6;
    cursor: default;
  }
  button.primary {
    background: #2d4bd8;
    border-color: #2d4bd8;
    color: #fff;
  }
  button.link {
    border: none;
    background: none;
    padding: 0;
    color: #2d4bd8;
    text-decoration: underline;
  }
  input,
  textarea {
    font: inherit;
    padding: 5px 8px;
    border: 1px solid #9aa3b5;
    border-radius: 6px;
    box-sizing: border-box;
  }
  .mono {
    font:
      12px ui-monospace,
      monospace;
  }
  .error {
    color: #b3261e;
  }
  .muted {
    color: #667085;
  }
  h2 {
    font-size: 15px;
    margin: 0 0 8px;
  }
  section {
    background: #fff;
    border: 1px solid #e1e5ee;
    border-radius: 10px;
    padding: 12px;
    margin-bottom: 12px;
  }
  .row {
    display: flex;
    gap: 8px;
    align-items: center;
    flex-wrap: wrap;
  }
  .grow {
    flex: 1;
    min-width: 0;
  }
`

/** A message for the user out of anything thrown. */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** "1 follower", "2 followers" */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/** "3 min ago" style times, falling back to a date for old posts. */
export function ago(t: number, now = Date.now()): string {
  const s = Math.round((now - t) / 1000)
  if (s < 45) return 'just now'
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`
  return new Date(t).toLocaleDateString()
}
