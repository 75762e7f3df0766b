// Sensors as the API sends them, and the pure helpers of their panel and overlay (grouping, status colours,
// value formatting, merging live values): no DOM here, so the unit tests cover them.
import { formatNumber, type Lang } from '../i18n';
import type { SensorValue } from '../live/stream';

export const SENSOR_STATUSES = ['ok', 'late', 'silent', 'never'] as const;
export type SensorStatus = (typeof SENSOR_STATUSES)[number];

export interface Kind {
  kind: string;
  unit: string;
  title_fr: string;
  title_en: string;
  visibility: string;
  category: string | null;
  expected_interval_s: number;
}

export interface Latest {
  observed_at: string;
  value: number;
}

export interface Sensor {
  id: number;
  territory_id: number;
  name: string;
  kind: string;
  unit: string | null;
  lon: number;
  lat: number;
  asset_layer: string | null;
  asset_id: number | null;
  latest: Latest | null;
  status: SensorStatus;
  open_detections: number;
}

export interface Threshold {
  severity: string;
  direction: 'above' | 'below' | string;
  value: number;
  averaging_s: number | null;
  label_fr: string;
  label_en: string;
}

/** [epoch_ms, mean, min, max, count] */
export type SeriesPoint = [number, number, number, number, number];

export interface Series {
  sensor_id: number;
  unit: string | null;
  /** null when the API sent raw readings (step=raw): then points are [epoch_ms, value]. */
  step_s: number | null;
  points: SeriesPoint[];
}

/** Status dot colours (also the map circles): green, amber, red, grey. */
export const STATUS_COLOURS: Record<SensorStatus, string> = {
  ok: '#1a6b2c',
  late: '#d08a00',
  silent: '#b3261e',
  never: '#8c96a0',
};

/** A sensor with an open detection is drawn in this colour whatever its status. */
export const DETECTION_COLOUR = '#8b0000';

export function statusColour(status: string): string {
  return STATUS_COLOURS[status as SensorStatus] ?? STATUS_COLOURS.never;
}

export function kindTitle(kind: Kind | undefined, fallback: string, lang: Lang): string {
  if (!kind) return fallback;
  return (lang === 'en' ? kind.title_en : kind.title_fr) || kind.title_fr || fallback;
}

/**
 * Digits to show for a value: fewer for large values, more for small ones (a pressure of 52,3 m, a flow
 * of 1 234 m³/h, a PM2,5 of 7,25 µg/m³).
 */
export function digitsFor(value: number): number {
  const magnitude = Math.abs(value);
  if (Number.isInteger(value) || magnitude >= 1000) return 0;
  if (magnitude >= 10) return 1;
  if (magnitude >= 1) return 2;
  return 3;
}

/**
 * A value with its unit in the UI language.
 *
 * @example
 * formatValue(52.34, 'm', 'fr') // '52,3 m'
 */
export function formatValue(value: number | null | undefined, unit: string | null, lang: Lang): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const text = formatNumber(value, digitsFor(value), lang);
  return unit && unit !== '1' ? `${text}\u00a0${unit}` : text;
}

/** Sensors grouped by kind (kinds in title order, sensors by name), after the kind filter. */
export function groupByKind(sensors: readonly Sensor[], kinds: readonly Kind[], lang: Lang, only: string | 'all' = 'all'): { kind: string; title: string; sensors: Sensor[] }[] {
  const byKind = new Map<string, Sensor[]>();
  for (const sensor of sensors) {
    if (only !== 'all' && sensor.kind !== only) continue;
    const list = byKind.get(sensor.kind) ?? [];
    list.push(sensor);
    byKind.set(sensor.kind, list);
  }
  const kindOf = new Map(kinds.map((k) => [k.kind, k]));
  return [...byKind.entries()]
    .map(([kind, list]) => ({
      kind,
      title: kindTitle(kindOf.get(kind), kind, lang),
      sensors: list.sort((a, b) => a.name.localeCompare(b.name, lang, { numeric: true }) || a.id - b.id),
    }))
    .sort((a, b) => a.title.localeCompare(b.title, lang));
}

/**
 * Apply live values to `sensors` (in place): a value older than the one held is ignored. Returns the ids
 * of the sensors that changed.
 */
export function applyValues(sensors: Map<number, Sensor>, readings: readonly SensorValue[]): number[] {
  const changed: number[] = [];
  for (const [id, epochMs, value] of readings) {
    const sensor = sensors.get(id);
    if (!sensor || typeof epochMs !== 'number' || typeof value !== 'number') continue;
    const held = sensor.latest ? Date.parse(sensor.latest.observed_at) : -Infinity;
    if (epochMs < held) continue;
    sensor.latest = { observed_at: new Date(epochMs).toISOString(), value };
    sensor.status = 'ok';
    changed.push(id);
  }
  return changed;
}

/** The 24 hours before `nowMs`, as the readings API wants them. */
export function lastDay(nowMs: number): { from: string; to: string } {
  return { from: new Date(nowMs - 24 * 3600_000).toISOString(), to: new Date(nowMs).toISOString() };
}
