// Pure helpers of the routing and dispatch panels: French/English formatting of durations, distances and
// times, turn-by-turn rendering, the isochrone legend, request builders of /api/routing and /api/dispatch,
// dashed lines for closures and the nearest street under a click. No DOM, no map: unit-tested.
import { formatNumber, type Lang } from '../i18n';

export type LonLat = [number, number];
export type Rgba = [number, number, number, number];

/** The routing API's profile names, in the order the selector shows them. */
export const PROFILES = ['car', 'emergency', 'crew_van', 'pedestrian'] as const;
export type Profile = (typeof PROFILES)[number];

/** A duration for people: "45 s", "12 min", "1 h 05 min" (minutes rounded, never "0 min" for a short trip). */
export function formatDuration(seconds: number, lang: Lang): string {
  void lang; // same units in French and English; kept for symmetry with the other formatters
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}\u00a0s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes}\u00a0min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `${hours}\u00a0h\u00a0${String(rest).padStart(2, '0')}\u00a0min`;
}

/** A distance: "80 m", "850 m" (10 m steps from 100 m), "1,2 km" (fr) / "1.2 km" (en), "12 km" from 10 km. */
export function formatDistance(metres: number, lang: Lang): string {
  const m = Math.max(0, metres);
  if (m < 100) return `${Math.round(m)}\u00a0m`;
  if (m < 995) return `${Math.round(m / 10) * 10}\u00a0m`;
  const km = m / 1000;
  return `${formatNumber(km, km < 9.95 ? 1 : 0, lang)}\u00a0km`;
}

/** Hours and minutes of an ISO 8601 instant in the browser's time zone ("14:05"); "—" when absent. */
export function formatClock(iso: string | null | undefined, lang: Lang): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '—';
  return new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { hour: '2-digit', minute: '2-digit' }).format(date);
}

/** A point as the API reads it: "lon,lat" with 6 decimals (≈ 0.1 m). */
export function lonLatParam([lon, lat]: LonLat): string {
  return `${lon.toFixed(6)},${lat.toFixed(6)}`;
}

export interface Instruction {
  type: string;
  text: string;
  street?: string | null;
  distance_m: number;
  duration_s: number;
  location?: LonLat;
}

const ICONS: Record<string, string> = {
  depart: '⬆',
  straight: '⬆',
  slight_left: '⬉',
  slight_right: '⬈',
  left: '⬅',
  right: '➡',
  sharp_left: '↙',
  sharp_right: '↘',
  uturn: '↶',
  roundabout: '↻',
  arrive: '⚑',
};

export interface RenderedInstruction {
  icon: string;
  text: string;
  /** Distance to the next step ("" for the arrival). */
  distance: string;
}

/** One line of the turn-by-turn list: the server's sentence (already in the asked language), an arrow, a distance. */
export function renderInstruction(step: Instruction, lang: Lang): RenderedInstruction {
  return {
    icon: ICONS[step.type] ?? '•',
    text: step.text,
    distance: step.type === 'arrive' || !(step.distance_m > 0) ? '' : formatDistance(step.distance_m, lang),
  };
}

/** Budgets typed in minutes ("5, 10, 15") → seconds, ascending, distinct; null when invalid (1–10 values, each in (0, 240]). */
export function parseBudgets(text: string): number[] | null {
  const parts = text
    .split(/[,;\s]+/)
    .map((p) => p.trim())
    .filter(Boolean);
  if (!parts.length || parts.length > 10) return null;
  const minutes = parts.map(Number);
  if (minutes.some((m) => !Number.isFinite(m) || m <= 0 || m > 240)) return null;
  return [...new Set(minutes.map((m) => Math.round(m * 60)))].sort((a, b) => a - b);
}

/** Isochrone colours, smallest budget first (darkest: it is drawn on top of the larger, lighter rings). */
export const ISOCHRONE_COLOURS: string[] = ['#08306b', '#0a58a8', '#2f80c8', '#5ea3dc', '#8cc1ea', '#b7d8f2'];

export function hexToRgba(hex: string, alpha = 255): Rgba {
  const v = hex.replace('#', '');
  return [parseInt(v.slice(0, 2), 16), parseInt(v.slice(2, 4), 16), parseInt(v.slice(4, 6), 16), alpha];
}

export interface LegendItem {
  budget_s: number;
  label: string;
  colour: string;
  fill: Rgba;
}

/** The legend of nested isochrones: one entry per budget, ascending ("≤ 5 min"), with its colour. */
export function isochroneLegend(budgets_s: number[], lang: Lang): LegendItem[] {
  const sorted = [...new Set(budgets_s)].sort((a, b) => a - b);
  return sorted.map((budget, i) => {
    const colour = ISOCHRONE_COLOURS[Math.min(i, ISOCHRONE_COLOURS.length - 1)];
    return { budget_s: budget, label: `≤\u00a0${formatDuration(budget, lang)}`, colour, fill: hexToRgba(colour, 70) };
  });
}

export interface RouteRequest {
  territory: string;
  start: LonLat;
  end: LonLat;
  profile: Profile;
  lang: Lang;
  format?: 'geojson' | 'gpx';
}

export function routeUrl(r: RouteRequest): string {
  const q = new URLSearchParams({
    territory: r.territory,
    start: lonLatParam(r.start),
    end: lonLatParam(r.end),
    profile: r.profile,
    lang: r.lang,
    format: r.format ?? 'geojson',
  });
  return `/api/routing/route?${q}`;
}

export function isochronesUrl(territory: string, start: LonLat, budgets_s: number[], profile: Profile): string {
  const q = new URLSearchParams({
    territory,
    start: lonLatParam(start),
    budgets_s: budgets_s.join(','),
    profile,
  });
  return `/api/routing/isochrones?${q}`;
}

/** Facilities drive to the point (fire stations, police) or the point drives to them (hospitals). */
export function closestDirection(kind: string): 'from_facilities' | 'to_facilities' {
  return kind === 'hospital' ? 'to_facilities' : 'from_facilities';
}

export function closestUrl(territory: string, point: LonLat, kind: string, k: number, profile: Profile): string {
  const q = new URLSearchParams({
    territory,
    point: lonLatParam(point),
    kind,
    k: String(k),
    profile,
    direction: closestDirection(kind),
  });
  return `/api/routing/closest?${q}`;
}

export interface ClosureInput {
  territory: string;
  reason: string;
  /** null: until lifted. */
  duration_s: number | null;
  edge_ids?: number[];
  /** Ring of a drawn zone (closed or not: closed here). */
  ring?: LonLat[];
}

/** The body of POST /api/routing/closures for a street (edge ids) or a drawn zone (GeoJSON Polygon). */
export function closureBody(input: ClosureInput): Record<string, unknown> {
  const reason = input.reason.trim();
  if (!reason) throw new Error('reason');
  const body: Record<string, unknown> = { territory: input.territory, kind: 'closure', reason };
  if (input.edge_ids?.length) body.edge_ids = [...new Set(input.edge_ids)].sort((a, b) => a - b);
  if (input.ring) {
    if (input.ring.length < 3) throw new Error('ring');
    const ring = [...input.ring];
    const [first, last] = [ring[0], ring[ring.length - 1]];
    if (first[0] !== last[0] || first[1] !== last[1]) ring.push(first);
    body.area = { type: 'Polygon', coordinates: [ring] };
  }
  if (!body.edge_ids && !body.area) throw new Error('target');
  if (input.duration_s !== null) body.duration_s = input.duration_s;
  return body;
}

export function planBody(territory: string, time_budget_s: number): Record<string, unknown> {
  return { territory, time_budget_s, apply: true };
}

/** Metres between two points (equirectangular: exact enough within a town). */
export function metresBetween(a: LonLat, b: LonLat): number {
  const rad = Math.PI / 180;
  const x = (b[0] - a[0]) * rad * Math.cos(((a[1] + b[1]) / 2) * rad);
  const y = (b[1] - a[1]) * rad;
  return Math.hypot(x, y) * 6_371_008.8;
}

/** A line cut into dashes of `dash` metres separated by `gap` metres (deck.gl core has no dashed paths). */
export function dashify(line: LonLat[], dash = 12, gap = 8): LonLat[][] {
  const out: LonLat[][] = [];
  let current: LonLat[] = [];
  let drawing = true;
  let left = dash;
  for (let i = 1; i < line.length; i++) {
    let a = line[i - 1];
    const b = line[i];
    let length = metresBetween(a, b);
    if (drawing && !current.length) current.push(a);
    while (length > left) {
      const f = left / length;
      const cut: LonLat = [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
      if (drawing) {
        current.push(cut);
        out.push(current);
        current = [];
      } else {
        current = [cut];
      }
      drawing = !drawing;
      length -= left;
      left = drawing ? dash : gap;
      a = cut;
    }
    left -= length;
    if (drawing) current.push(b);
  }
  if (drawing && current.length > 1) out.push(current);
  return out;
}

export type Pixel = [number, number];

/** Distance in pixels from `p` to the segment `a`–`b`. */
export function segmentDistance(p: Pixel, a: Pixel, b: Pixel): number {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

export function lineDistance(p: Pixel, line: Pixel[]): number {
  if (line.length === 1) return Math.hypot(p[0] - line[0][0], p[1] - line[0][1]);
  let best = Infinity;
  for (let i = 1; i < line.length; i++) best = Math.min(best, segmentDistance(p, line[i - 1], line[i]));
  return best;
}

export interface Candidate<T> {
  value: T;
  /** The feature's lines, in screen pixels. */
  lines: Pixel[][];
}

/**
 * The street under a click: the candidates nearest to `p` (within `maxPx`), and those as near to within
 * `tolerancePx` — a two-way street is two stored arcs drawn on top of each other, and both must close.
 */
export function nearestCandidates<T>(p: Pixel, candidates: Candidate<T>[], maxPx = 12, tolerancePx = 1.5): T[] {
  const scored = candidates
    .map((c) => ({ value: c.value, d: Math.min(...c.lines.map((l) => lineDistance(p, l))) }))
    .filter((c) => c.d <= maxPx)
    .sort((a, b) => a.d - b.d);
  if (!scored.length) return [];
  return scored.filter((c) => c.d <= scored[0].d + tolerancePx).map((c) => c.value);
}
