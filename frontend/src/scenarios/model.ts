// The scenarios panel's data and pure helpers: the shapes of the /api/simulation answers (docs: the issue-8
// API contract), the KPI comparison as the table shows it, building and checking events and measures from
// the editor's forms, and the colours of the result layers. No DOM, no map: unit-tested.
import type { Role } from '../core/api';
import { formatNumber, type Lang, type MessageKey } from '../i18n';
import { formatDuration, type LonLat, type Rgba } from '../routing/format';

export const EVENT_TYPES = ['road_closure', 'flood', 'pipe_burst', 'pump_failure', 'power_failure', 'pollution_plume'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export const MEASURE_TYPES = ['close_road', 'reopen_road', 'send_crew', 'operate_valve'] as const;
export type MeasureType = (typeof MEASURE_TYPES)[number];
export const RUN_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const DOWNLOAD_FORMATS = ['geojson', 'csv', 'json'] as const;
export type DownloadFormat = (typeof DOWNLOAD_FORMATS)[number];

/** Roles of the group SCENARIOS: they create, edit and run scenarios; everyone else reads. */
export const SCENARIO_EDITORS: readonly Role[] = ['admin', 'operator', 'planner'];

export function canEditScenarios(role: Role): boolean {
  return SCENARIO_EDITORS.includes(role);
}

/** An initiating event or a measure as the API takes it (simulation/events.py and the scenarios model). */
export interface ScenarioEvent {
  type: EventType;
  at_s?: number;
  [field: string]: unknown;
}

export interface Measure {
  type: MeasureType;
  at_s?: number;
  [field: string]: unknown;
}

export interface Bilingual {
  fr: string;
  en: string;
}

export interface Comparison {
  kpi: string;
  label: Bilingual;
  unit: string;
  baseline: number | null;
  scenario: number | null;
  delta: number | null;
  better: 'lower' | 'higher';
}

export interface Run {
  id: number;
  scenario_id: number;
  scenario_version: number;
  status: RunStatus;
  progress: number;
  stage: string;
  requested_by: string;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  kpis: Record<string, number | null> | null;
  baseline_kpis: Record<string, number | null> | null;
  comparison: Comparison[] | null;
}

export interface LiveClosure {
  id: number;
  kind: string;
  edge_ids?: number[];
  reason?: string;
}

export interface Scenario {
  id: number;
  territory: { id: number; name: string };
  name: string;
  description: string;
  events: ScenarioEvent[];
  measures: Measure[];
  forked_at: string;
  live_closures: LiveClosure[];
  version: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  last_run: Run | null;
}

/** The `run` live event of topic `simulation`. */
export interface RunEvent {
  kind: 'run';
  run_id: number;
  scenario_id: number;
  territory: number | string;
  status: RunStatus;
  progress: number;
  stage: string;
}

export function isFinished(status: RunStatus): boolean {
  return status === 'done' || status === 'failed' || status === 'cancelled';
}

/** Progress as a whole percentage, 0..100 (a finished run shows 100, whatever it last said). */
export function progressPercent(run: Pick<Run, 'status' | 'progress'>): number {
  if (run.status === 'done') return 100;
  const p = Number.isFinite(run.progress) ? run.progress : 0;
  return Math.round(Math.min(1, Math.max(0, p)) * 100);
}

/** The run with a live `run` event applied (other runs' events leave it as it was). */
export function applyRunEvent(run: Run, event: Partial<RunEvent>): Run {
  if (event.kind !== 'run' || event.run_id !== run.id) return run;
  // A late progress event must not bring a finished run back to "running".
  if (isFinished(run.status) && event.status && !isFinished(event.status)) return run;
  return {
    ...run,
    status: event.status ?? run.status,
    progress: typeof event.progress === 'number' ? event.progress : run.progress,
    stage: typeof event.stage === 'string' ? event.stage : run.stage,
  };
}

// ---- KPI comparison

export type Verdict = 'better' | 'worse' | 'same' | 'unknown';

/** Whether the scenario is better or worse than the baseline on one KPI, by the KPI's own direction. */
export function verdict(row: Pick<Comparison, 'baseline' | 'scenario' | 'delta' | 'better'>): Verdict {
  const delta = row.delta ?? (row.baseline !== null && row.scenario !== null ? row.scenario - row.baseline : null);
  if (delta === null || !Number.isFinite(delta)) return 'unknown';
  if (Math.abs(delta) < 1e-9) return 'same';
  return (delta < 0) === (row.better === 'lower') ? 'better' : 'worse';
}

/** Physical units shown after the value; any other unit ("habitants", "sites"…) is a count the label names. */
const SHOWN_UNITS: Record<string, string> = { m3: 'm³', 'm³': 'm³', m: 'm', km: 'km', '%': '%', 'm/s': 'm/s', 'l/s': 'l/s' };

/** One KPI value for people: durations as "4 min", volumes with one decimal, counts as whole numbers. */
export function formatKpi(value: number | null | undefined, unit: string, lang: Lang): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (unit === 's') return formatDuration(Math.abs(value), lang);
  const digits = Number.isInteger(value) ? 0 : 1;
  const text = formatNumber(Math.abs(value), digits, lang);
  const sign = value < 0 ? '−' : '';
  const shown = SHOWN_UNITS[unit];
  return shown ? `${sign}${text}\u00a0${shown}` : `${sign}${text}`;
}

/** A difference with its sign ("+3", "−2 min", "0"). */
export function formatDelta(delta: number | null | undefined, unit: string, lang: Lang): string {
  if (delta === null || delta === undefined || !Number.isFinite(delta)) return '—';
  if (Math.abs(delta) < 1e-9) return '0';
  const magnitude = formatKpi(Math.abs(delta), unit, lang);
  return `${delta > 0 ? '+' : '−'}${magnitude}`;
}

export interface KpiRow {
  kpi: string;
  label: string;
  baseline: string;
  scenario: string;
  delta: string;
  verdict: Verdict;
}

/** The rows of the KPI table (baseline | scenario | écart), in the server's order, in `lang`. */
export function kpiRows(comparison: readonly Comparison[] | null | undefined, lang: Lang): KpiRow[] {
  return (comparison ?? []).map((row) => ({
    kpi: row.kpi,
    label: row.label?.[lang] || row.label?.fr || row.kpi,
    baseline: formatKpi(row.baseline, row.unit, lang),
    scenario: formatKpi(row.scenario, row.unit, lang),
    delta: formatDelta(row.delta ?? (row.baseline !== null && row.scenario !== null ? row.scenario - row.baseline : null), row.unit, lang),
    verdict: verdict(row),
  }));
}

// ---- building events and measures from the editor's forms

/** What the editor's form holds for one event (texts as typed; picks as picked). */
export interface EventDraft {
  type: EventType;
  /** Minutes after the start, as typed ('' = at once). */
  atMin?: string;
  edgeIds?: number[];
  reason?: string;
  ring?: LonLat[];
  waterLevelM?: string;
  pipe?: string;
  pump?: string;
  feederIds?: string;
  source?: LonLat | null;
  windFromDeg?: string;
  windSpeedMS?: string;
  lengthM?: string;
  pollutant?: string;
}

export interface MeasureDraft {
  type: MeasureType;
  atMin?: string;
  edgeIds?: number[];
  reason?: string;
  closureIds?: number[];
  crewId?: string;
  eventIndex?: string;
  valve?: string;
  open?: boolean;
}

export type Built<T> = { ok: true; value: T } | { ok: false; problem: MessageKey };

const fail = <T>(problem: MessageKey): Built<T> => ({ ok: false, problem });

/** A number typed in a field: '' → `empty`; NaN when it is not a number (French decimal comma accepted). */
export function parseNumber(text: string | undefined, empty: number | null = null): number | null {
  const trimmed = (text ?? '').trim().replace(',', '.');
  if (!trimmed) return empty;
  return /^[-+]?(\d+\.?\d*|\.\d+)$/.test(trimmed) ? Number(trimmed) : Number.NaN;
}

function within(value: number | null, low: number, high: number): boolean {
  return value !== null && Number.isFinite(value) && value >= low && value <= high;
}

/** The GeoJSON polygon of a drawn ring (closed here); null under three corners. */
export function ringPolygon(ring: readonly LonLat[] | undefined): GeoJSON.Polygon | null {
  if (!ring || ring.length < 3) return null;
  const first = ring[0];
  const last = ring[ring.length - 1];
  const closed = first[0] === last[0] && first[1] === last[1] ? [...ring] : [...ring, first];
  if (closed.length < 4) return null;
  return { type: 'Polygon', coordinates: [closed.map(([x, y]) => [x, y])] };
}

function atSeconds(draft: { atMin?: string }): number | null {
  const minutes = parseNumber(draft.atMin, 0);
  return within(minutes, 0, 1440) ? Math.round((minutes as number) * 60) : null;
}

/** The event of a filled form, or the first problem to tell the user (the server checks again). */
export function buildEvent(draft: EventDraft): Built<ScenarioEvent> {
  const at_s = atSeconds(draft);
  if (at_s === null) return fail('scenarios.problem.at');
  switch (draft.type) {
    case 'road_closure':
      if (!draft.edgeIds?.length) return fail('scenarios.problem.streets');
      return { ok: true, value: { type: 'road_closure', edge_ids: [...new Set(draft.edgeIds)], reason: (draft.reason ?? '').trim(), at_s } };
    case 'flood': {
      const area = ringPolygon(draft.ring);
      if (!area) return fail('scenarios.problem.area');
      const level = parseNumber(draft.waterLevelM, null);
      if (level !== null && !within(level, 0, 30)) return fail('scenarios.problem.waterLevel');
      return { ok: true, value: { type: 'flood', area, water_level_m: level, at_s } };
    }
    case 'pipe_burst':
      if (!draft.pipe?.trim()) return fail('scenarios.problem.pipe');
      return { ok: true, value: { type: 'pipe_burst', pipe: draft.pipe.trim(), at_s } };
    case 'pump_failure':
      if (!draft.pump?.trim()) return fail('scenarios.problem.pump');
      return { ok: true, value: { type: 'pump_failure', pump: draft.pump.trim(), at_s } };
    case 'power_failure': {
      const area = ringPolygon(draft.ring);
      const feeders = (draft.feederIds ?? '')
        .split(/[\s,;]+/)
        .filter(Boolean)
        .map(Number);
      if (feeders.some((f) => !Number.isInteger(f) || f <= 0)) return fail('scenarios.problem.feeders');
      if (!area && !feeders.length) return fail('scenarios.problem.powerArea');
      return { ok: true, value: { type: 'power_failure', area, feeder_ids: feeders, at_s } };
    }
    case 'pollution_plume': {
      if (!draft.source) return fail('scenarios.problem.source');
      const from = parseNumber(draft.windFromDeg, null);
      if (!within(from, 0, 360)) return fail('scenarios.problem.windFrom');
      const speed = parseNumber(draft.windSpeedMS, 3);
      if (!within(speed, 0, 60)) return fail('scenarios.problem.windSpeed');
      const length = parseNumber(draft.lengthM, 2000);
      if (!within(length, 10, 50_000)) return fail('scenarios.problem.length');
      const pollutant = (draft.pollutant ?? '').trim() || 'unknown';
      if (pollutant.length > 40) return fail('scenarios.problem.pollutant');
      return {
        ok: true,
        value: {
          type: 'pollution_plume',
          source: [draft.source[0], draft.source[1]],
          wind_from_deg: from as number,
          wind_speed_m_s: speed as number,
          length_m: length as number,
          pollutant,
          at_s,
        },
      };
    }
    default:
      return fail('scenarios.problem.type');
  }
}

/** The measure of a filled form, or the first problem; `eventCount` bounds the event a crew is sent to. */
export function buildMeasure(draft: MeasureDraft, eventCount: number): Built<Measure> {
  const at_s = atSeconds(draft);
  if (at_s === null) return fail('scenarios.problem.at');
  switch (draft.type) {
    case 'close_road':
      if (!draft.edgeIds?.length) return fail('scenarios.problem.streets');
      return { ok: true, value: { type: 'close_road', edge_ids: [...new Set(draft.edgeIds)], reason: (draft.reason ?? '').trim(), at_s } };
    case 'reopen_road':
      if (!draft.closureIds?.length) return fail('scenarios.problem.closures');
      return { ok: true, value: { type: 'reopen_road', closure_ids: [...new Set(draft.closureIds)], at_s } };
    case 'send_crew': {
      const crew = parseNumber(draft.crewId, null);
      if (crew === null || !Number.isInteger(crew) || crew <= 0) return fail('scenarios.problem.crew');
      const event = parseNumber(draft.eventIndex, null);
      if (event === null || !Number.isInteger(event) || event < 0 || event >= eventCount) return fail('scenarios.problem.crewEvent');
      return { ok: true, value: { type: 'send_crew', crew_id: crew, event, at_s } };
    }
    case 'operate_valve':
      if (!draft.valve?.trim()) return fail('scenarios.problem.valve');
      return { ok: true, value: { type: 'operate_valve', valve: draft.valve.trim(), open: Boolean(draft.open), at_s } };
    default:
      return fail('scenarios.problem.type');
  }
}

/** The short description of an event or a measure in the editor's list ("Rue fermée : 3 tronçons"). */
export function describe(item: ScenarioEvent | Measure, lang: Lang): string {
  const fr = lang === 'fr';
  const at = typeof item.at_s === 'number' && item.at_s > 0 ? ` (${fr ? 'à' : 'at'} +${formatDuration(item.at_s, lang)})` : '';
  const n = (v: unknown) => (Array.isArray(v) ? v.length : 0);
  switch (item.type) {
    case 'road_closure':
    case 'close_road':
      return `${n(item.edge_ids)} ${fr ? 'tronçon(s)' : 'arc(s)'}${item.reason ? ` — ${String(item.reason)}` : ''}${at}`;
    case 'flood':
      return `${fr ? 'zone inondée' : 'flooded area'}${typeof item.water_level_m === 'number' ? `, ${formatNumber(item.water_level_m, 1, lang)}\u00a0m` : ''}${at}`;
    case 'pipe_burst':
      return `${String(item.pipe)}${at}`;
    case 'pump_failure':
      return `${String(item.pump)}${at}`;
    case 'power_failure':
      return `${item.area ? (fr ? 'zone' : 'area') : ''}${item.area && n(item.feeder_ids) ? ' + ' : ''}${n(item.feeder_ids) ? `${n(item.feeder_ids)} ${fr ? 'départ(s)' : 'feeder(s)'}` : ''}${at}`;
    case 'pollution_plume':
      return `${String(item.pollutant)}, ${fr ? 'vent du' : 'wind from'} ${Number(item.wind_from_deg)}°, ${formatNumber(Number(item.wind_speed_m_s), 1, lang)}\u00a0m/s, ${formatNumber(Number(item.length_m), 0, lang)}\u00a0m${at}`;
    case 'reopen_road':
      return `${fr ? 'fermeture(s)' : 'closure(s)'} ${((item.closure_ids as number[]) ?? []).map((id) => `n° ${id}`).join(', ')}${at}`;
    case 'send_crew':
      return `${fr ? 'équipe' : 'crew'} ${Number(item.crew_id)} → ${fr ? 'événement' : 'event'} ${Number(item.event) + 1}${at}`;
    case 'operate_valve':
      return `${String(item.valve)} ${item.open ? (fr ? 'ouverte' : 'opened') : fr ? 'fermée' : 'closed'}${at}`;
    default:
      return '';
  }
}

// ---- result layers

/** Colours of the causes an asset is hit by (the first cause colours its point). */
export const CAUSE_COLOURS: Record<string, string> = {
  road_isolated: '#b3261e',
  road_degraded: '#c2410c',
  flooded: '#0a58a8',
  no_water: '#00838f',
  no_power: '#6b2fa3',
  lights_out: '#6b2fa3',
  plume: '#8a4f00',
  in_plume: '#8a4f00',
};
const OTHER_CAUSE = '#4a5560';

export function causeColour(causes: readonly string[] | null | undefined): string {
  for (const cause of causes ?? []) if (CAUSE_COLOURS[cause]) return CAUSE_COLOURS[cause];
  return OTHER_CAUSE;
}

/** The H3 cells' ramp, light to dark (residents hit). */
export const H3_RAMP = ['#fff5d6', '#fdd49e', '#fc8d59', '#e34a33', '#b30000', '#7f0000'];

/** The ramp colour of `value` on 0..`max` (square-root scale: a few dense cells do not wash out the rest). */
export function rampColour(value: number, max: number, alpha = 170): Rgba {
  const ratio = max > 0 && value > 0 ? Math.sqrt(Math.min(1, value / max)) : 0;
  const hex = H3_RAMP[Math.min(H3_RAMP.length - 1, Math.floor(ratio * (H3_RAMP.length - 1) + 1e-9))];
  const v = hex.slice(1);
  return [parseInt(v.slice(0, 2), 16), parseInt(v.slice(2, 4), 16), parseInt(v.slice(4, 6), 16), alpha];
}

export function downloadUrl(runId: number, format: DownloadFormat): string {
  return `/api/simulation/runs/${runId}/download?format=${format}`;
}

/** A bilingual text in `lang` (French when the English one is missing). */
export function inLang(text: Partial<Bilingual> | null | undefined, lang: Lang): string {
  if (!text) return '';
  return (lang === 'en' ? text.en : text.fr) || text.fr || text.en || '';
}
