// The console's colour pairs (text on background), checked against WCAG 2.1 AA by the unit tests; styles.css
// declares the same values as custom properties (a test compares them).

export const PALETTE = {
  '--ink': '#1b1f24',
  '--paper': '#ffffff',
  '--muted': '#4a5560',
  '--panel': '#f4f6f8',
  '--header': '#0b3d5c',
  '--header-ink': '#ffffff',
  '--accent': '#0a58a8',
  '--accent-ink': '#ffffff',
  '--ok': '#1a6b2c',
  '--warn': '#8a4f00',
  '--bad': '#b3261e',
  '--focus': '#c2410c',
} as const;

export type ColourName = keyof typeof PALETTE;

/** Text/background pairs the UI actually uses (normal-size text: 4.5:1 needed). */
export const TEXT_PAIRS: [ColourName, ColourName][] = [
  ['--ink', '--paper'],
  ['--ink', '--panel'],
  ['--muted', '--paper'],
  ['--muted', '--panel'],
  ['--header-ink', '--header'],
  ['--accent-ink', '--accent'],
  ['--accent', '--paper'],
  ['--ok', '--paper'],
  ['--warn', '--paper'],
  ['--bad', '--paper'],
  ['--ok', '--panel'],
  ['--warn', '--panel'],
  ['--bad', '--panel'],
];

/** Non-text pairs (focus ring, control borders): 3:1 needed (WCAG 1.4.11). */
export const UI_PAIRS: [ColourName, ColourName][] = [
  ['--focus', '--paper'],
  ['--focus', '--panel'],
];

function channel(c: number): number {
  const s = c / 255;
  return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
}

/** Relative luminance of `#rrggbb` (WCAG 2.1 definition). */
export function luminance(hex: string): number {
  const v = hex.replace('#', '');
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(v.slice(i, i + 2), 16));
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

/** Contrast ratio of two colours, 1 to 21. */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
