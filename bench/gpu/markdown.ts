/** Cell formatting for the GPU check's results.md tables (no dependencies: report code and stages share it). */

/** `text` made safe for one Markdown table cell (no pipes or newlines), cut to `max` characters. */
export const tableCell = (text: string | undefined, max: number): string => (text ?? '').replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, max);

/** A number as 1.23e-4, or '-' when missing or not finite. */
export const expOrDash = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toExponential(2));
