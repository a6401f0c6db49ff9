/** Bits every shell component uses: the API handle, short ids, and the shared styles. */
import { css } from 'lit'
import type { OrreryApi } from '../orrery'

export const api = (): OrreryApi => window.orrery

export const short = (id: string | undefined, n = 8): string =>
  id === undefined || id === '' ? '…' : `…${id.slice(-n)}`

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
  button.primary {
    background: #2d4bd8;
    border-color: #2d4bd8;
    color: #fff;
  }
  input,
  textarea {
    font:
      13px ui-monospace,
      monospace;
    padding: 4px 6px;
    border: 1px solid #9aa3b5;
    border-radius: 6px;
    box-sizing: border-box;
  }
  code,
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
`
