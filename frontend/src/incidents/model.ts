// Incidents as the API sends them, and the pure helpers of their panel (order, colours, wording, merging
// live events): no DOM here, so the unit tests cover them.
import type { Role } from '../core/api';
import { formatNumber, translate, type Lang, type MessageKey } from '../i18n';
import type { LoggedEvent } from '../live/stream';

export const STATUSES = ['new', 'acknowledged', 'assigned', 'resolved'] as const;
export type Status = (typeof STATUSES)[number];
export const SEVERITIES = ['info', 'warning', 'alert', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const CATEGORIES = ['water', 'air', 'traffic', 'lighting', 'energy', 'weather', 'security', 'other'] as const;
export type Category = (typeof CATEGORIES)[number];

/** Roles that acknowledge, assign, resolve, declare and write in the main courante (INCIDENT_HANDLING). */
export const HANDLERS: readonly Role[] = ['admin', 'operator'];

export interface ExposedSite {
  id: number;
  name: string | null;
  kind: string;
  distance_m: number;
}

export interface Exposure {
  radius_m?: number;
  residents?: number;
  critical_sites?: ExposedSite[];
}

export interface Incident {
  id: number;
  title: string;
  category: string;
  status: Status;
  severity: Severity;
  priority: number;
  confidence: number;
  exposure: Exposure | null;
  origin: 'detection' | 'manual';
  lon: number;
  lat: number;
  opened_at: string;
  updated_at: string;
  assigned_crew_id: number | null;
  assigned_to: string | null;
  detections_count?: number;
  description?: string;
  resolution?: string | null;
}

export interface LogEntry {
  id: number;
  incident_id: number | null;
  at: string;
  author: string;
  entry: string;
  text: string;
}

export interface Detection {
  id: number;
  sensor_id: number;
  sensor_name?: string;
  rule: string;
  severity: Severity;
  started_at: string;
  ended_at: string | null;
  value: number | null;
  expected: number | null;
  explanation_fr: string;
  explanation_en: string;
  incident_id: number | null;
}

export interface IncidentDetail extends Incident {
  detections: Detection[];
  log: LogEntry[];
}

export function canHandle(role: Role): boolean {
  return HANDLERS.includes(role);
}

/** The actions an incident in `status` offers (the server checks them again). */
export function actionsFor(status: Status): ('acknowledge' | 'assign' | 'resolve')[] {
  switch (status) {
    case 'new':
      return ['acknowledge', 'assign', 'resolve'];
    case 'acknowledged':
      return ['assign', 'resolve'];
    case 'assigned':
      return ['assign', 'resolve'];
    default:
      return [];
  }
}

/** Highest priority first, then the more severe, then the oldest (it has waited longest). */
export function sortIncidents(list: readonly Incident[]): Incident[] {
  const rank = (s: Severity) => SEVERITIES.indexOf(s);
  return [...list].sort(
    (a, b) => b.priority - a.priority || rank(b.severity) - rank(a.severity) || Date.parse(a.opened_at) - Date.parse(b.opened_at) || a.id - b.id,
  );
}

/** Badge colours by severity: text on background, WCAG AA (white on the three darker ones). */
export const SEVERITY_COLOURS: Record<Severity, { background: string; ink: string }> = {
  info: { background: '#0a58a8', ink: '#ffffff' },
  warning: { background: '#f2c200', ink: '#1b1f24' },
  alert: { background: '#c2410c', ink: '#ffffff' },
  critical: { background: '#8b0000', ink: '#ffffff' },
};

export function severityColour(severity: string): { background: string; ink: string } {
  return SEVERITY_COLOURS[severity as Severity] ?? SEVERITY_COLOURS.info;
}

/** The marker of an incident on the map: radius grows with priority (8 to 20 px). */
export function markerRadiusPx(priority: number): number {
  return 8 + Math.round((Math.max(0, Math.min(100, priority)) / 100) * 12);
}

/**
 * "il y a 5 min", "il y a 2 h 05", "il y a 3 j": how long an incident has been open.
 *
 * @example
 * formatAge('2026-11-26T10:00:00Z', Date.parse('2026-11-26T10:05:30Z'), 'fr') // 'il y a 5 min'
 */
export function formatAge(iso: string, nowMs: number, lang: Lang): string {
  const seconds = Math.max(0, Math.floor((nowMs - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 60) return translate(lang, 'incidents.age.now');
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return translate(lang, 'incidents.age.minutes', { minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return translate(lang, 'incidents.age.hours', { hours, minutes: String(minutes % 60).padStart(2, '0') });
  return translate(lang, 'incidents.age.days', { days: Math.floor(hours / 24) });
}

const SITE_KINDS = ['hospital', 'clinic', 'school', 'kindergarten', 'nursing_home', 'fire_station', 'police'] as const;

/**
 * What an incident exposes, in a few words: "3 200 habitants · 1 hôpital · 2 écoles".
 *
 * Sites are counted by kind (the kinds of the critical sites table that matter most first); an empty
 * exposure gives an empty string.
 */
export function formatExposure(exposure: Exposure | null | undefined, lang: Lang): string {
  if (!exposure) return '';
  const parts: string[] = [];
  if (typeof exposure.residents === 'number' && exposure.residents > 0) {
    const n = Math.round(exposure.residents);
    parts.push(translate(lang, n === 1 ? 'incidents.exposure.resident' : 'incidents.exposure.residents', { count: formatNumber(n, 0, lang) }));
  }
  const counts = new Map<string, number>();
  for (const site of exposure.critical_sites ?? []) counts.set(site.kind, (counts.get(site.kind) ?? 0) + 1);
  const kinds = [...counts.keys()].sort((a, b) => {
    const ia = SITE_KINDS.indexOf(a as (typeof SITE_KINDS)[number]);
    const ib = SITE_KINDS.indexOf(b as (typeof SITE_KINDS)[number]);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  let others = 0;
  for (const kind of kinds) {
    const count = counts.get(kind) ?? 0;
    if ((SITE_KINDS as readonly string[]).includes(kind)) {
      const key = `incidents.site.${kind}.${count === 1 ? 'one' : 'many'}` as MessageKey;
      parts.push(translate(lang, key, { count }));
    } else {
      others += count;
    }
  }
  if (others) parts.push(translate(lang, others === 1 ? 'incidents.site.other.one' : 'incidents.site.other.many', { count: others }));
  return parts.join(' · ');
}

/** The incident carried by a live event, with what happened to it (created, updated, resolved…). */
export function incidentOf(event: LoggedEvent): { action: string; incident: Incident } | null {
  if (event.topic !== 'incident') return null;
  const incident = (event.payload as { incident?: Incident }).incident;
  if (!incident || typeof incident.id !== 'number') return null;
  return { action: String(event.payload.action ?? 'updated'), incident };
}

/** Which incidents the list shows (the open ones unless the filter asks for resolved ones too). */
export interface IncidentFilter {
  status: 'open' | Status | 'all';
  category: string | 'all';
}

export function matchesFilter(incident: Incident, filter: IncidentFilter): boolean {
  const statusOk =
    filter.status === 'all' ||
    (filter.status === 'open' ? incident.status !== 'resolved' : incident.status === filter.status);
  return statusOk && (filter.category === 'all' || incident.category === filter.category);
}

/**
 * Merge a newer copy of an incident into `list` (in place of the older one, or added): a copy older than
 * the one held (a REST answer overtaken by a live event) is ignored. Returns the new list and whether the
 * incident is new to it.
 */
export function upsertIncident(list: readonly Incident[], incoming: Incident): { list: Incident[]; added: boolean; changed: boolean } {
  const index = list.findIndex((i) => i.id === incoming.id);
  if (index < 0) return { list: [...list, incoming], added: true, changed: true };
  const held = list[index];
  if (Date.parse(incoming.updated_at) < Date.parse(held.updated_at)) return { list: [...list], added: false, changed: false };
  const next = [...list];
  next[index] = { ...held, ...incoming };
  return { list: next, added: false, changed: true };
}

/** Log entries by id, without duplicates (a live entry may also come in a REST answer). */
export function mergeLog(held: readonly LogEntry[], incoming: readonly LogEntry[]): LogEntry[] {
  const byId = new Map<number, LogEntry>();
  for (const entry of [...held, ...incoming]) byId.set(entry.id, entry);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/** The explanation of a detection in the UI language (French when the English one is missing). */
export function explanation(detection: Pick<Detection, 'explanation_fr' | 'explanation_en'>, lang: Lang): string {
  return (lang === 'en' && detection.explanation_en) || detection.explanation_fr || detection.explanation_en || '';
}

/** Validate the declaration form; returns the i18n key of the first problem, or null. */
export function declarationProblem(input: { title: string; lonLat: [number, number] | null }): MessageKey | null {
  if (!input.lonLat) return 'incidents.declare.needPoint';
  if (!input.title.trim()) return 'incidents.declare.needTitle';
  if (input.title.trim().length > 300) return 'incidents.declare.titleTooLong';
  return null;
}
