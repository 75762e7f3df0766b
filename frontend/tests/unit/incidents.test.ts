import { describe, expect, it } from 'vitest';
import {
  actionsFor,
  canHandle,
  declarationProblem,
  explanation,
  formatAge,
  formatExposure,
  incidentOf,
  markerRadiusPx,
  matchesFilter,
  mergeLog,
  SEVERITY_COLOURS,
  severityColour,
  sortIncidents,
  upsertIncident,
  type Incident,
  type LogEntry,
} from '../../src/incidents/model';
import { IncidentStore } from '../../src/incidents/store';
import { contrastRatio } from '../../src/core/theme';

const NBSP = /[\u00a0\u202f]/g;

const incident = (over: Partial<Incident> = {}): Incident => ({
  id: 1,
  title: 'Fuite avenue de Grande-Bretagne',
  category: 'water',
  status: 'new',
  severity: 'alert',
  priority: 50,
  confidence: 0.9,
  exposure: { radius_m: 300, residents: 3200, critical_sites: [{ id: 4, name: 'CHPG', kind: 'hospital', distance_m: 120 }] },
  origin: 'detection',
  lon: 7.42,
  lat: 43.73,
  opened_at: '2026-11-26T10:00:00Z',
  updated_at: '2026-11-26T10:00:00Z',
  assigned_crew_id: null,
  assigned_to: null,
  ...over,
});

describe('incident wording', () => {
  it('summarises the exposure in French and in English', () => {
    expect(formatExposure(incident().exposure, 'fr').replace(NBSP, ' ')).toBe('3 200 habitants · 1 hôpital');
    expect(formatExposure(incident().exposure, 'en')).toBe('3,200 residents · 1 hospital');
    const sites = [
      { id: 1, name: 'A', kind: 'school', distance_m: 1 },
      { id: 2, name: 'B', kind: 'hospital', distance_m: 1 },
      { id: 3, name: 'C', kind: 'school', distance_m: 1 },
      { id: 4, name: 'D', kind: 'pharmacy', distance_m: 1 },
      { id: 5, name: 'E', kind: 'town_hall', distance_m: 1 },
    ];
    expect(formatExposure({ residents: 1, critical_sites: sites }, 'fr')).toBe('1 habitant · 1 hôpital · 2 écoles · 2 autres sites sensibles');
    expect(formatExposure({}, 'fr')).toBe('');
    expect(formatExposure(null, 'fr')).toBe('');
  });

  it('gives the age of an incident', () => {
    const opened = '2026-11-26T10:00:00Z';
    const at = (iso: string) => Date.parse(iso);
    expect(formatAge(opened, at('2026-11-26T10:00:40Z'), 'fr')).toBe('à l’instant');
    expect(formatAge(opened, at('2026-11-26T10:05:30Z'), 'fr')).toBe('il y a 5 min');
    expect(formatAge(opened, at('2026-11-26T12:07:00Z'), 'fr')).toBe('il y a 2 h 07');
    expect(formatAge(opened, at('2026-11-29T10:00:00Z'), 'fr')).toBe('il y a 3 j');
    expect(formatAge(opened, at('2026-11-26T10:05:30Z'), 'en')).toBe('5 min ago');
    // A clock slightly behind the server's never shows a negative age.
    expect(formatAge(opened, at('2026-11-26T09:59:00Z'), 'fr')).toBe('à l’instant');
  });

  it('prefers the explanation in the UI language, French when English is missing', () => {
    const d = { explanation_fr: 'Pression sous le seuil', explanation_en: 'Pressure below the threshold' };
    expect(explanation(d, 'fr')).toBe('Pression sous le seuil');
    expect(explanation(d, 'en')).toBe('Pressure below the threshold');
    expect(explanation({ ...d, explanation_en: '' }, 'en')).toBe('Pression sous le seuil');
  });

  it('reports the first problem of a declaration', () => {
    expect(declarationProblem({ title: 'Arbre tombé', lonLat: null })).toBe('incidents.declare.needPoint');
    expect(declarationProblem({ title: '   ', lonLat: [7.4, 43.7] })).toBe('incidents.declare.needTitle');
    expect(declarationProblem({ title: 'x'.repeat(301), lonLat: [7.4, 43.7] })).toBe('incidents.declare.titleTooLong');
    expect(declarationProblem({ title: 'Arbre tombé', lonLat: [7.4, 43.7] })).toBeNull();
  });
});

describe('incident order, colours and actions', () => {
  it('sorts by priority, then severity, then age', () => {
    const list = [
      incident({ id: 1, priority: 40 }),
      incident({ id: 2, priority: 80 }),
      incident({ id: 3, priority: 40, severity: 'critical' }),
      incident({ id: 4, priority: 40, opened_at: '2026-11-26T09:00:00Z' }),
    ];
    expect(sortIncidents(list).map((i) => i.id)).toEqual([2, 3, 4, 1]);
  });

  it('has readable badge colours (WCAG AA) and a fallback', () => {
    for (const { background, ink } of Object.values(SEVERITY_COLOURS)) expect(contrastRatio(background, ink)).toBeGreaterThanOrEqual(4.5);
    expect(severityColour('unknown')).toEqual(SEVERITY_COLOURS.info);
  });

  it('sizes markers by priority within bounds', () => {
    expect(markerRadiusPx(0)).toBe(8);
    expect(markerRadiusPx(100)).toBe(20);
    expect(markerRadiusPx(250)).toBe(20);
    expect(markerRadiusPx(50)).toBeGreaterThan(markerRadiusPx(10));
  });

  it('offers the actions of each status to admin and operator only', () => {
    expect(actionsFor('new')).toEqual(['acknowledge', 'assign', 'resolve']);
    expect(actionsFor('acknowledged')).toEqual(['assign', 'resolve']);
    expect(actionsFor('resolved')).toEqual([]);
    expect(['admin', 'operator'].every((r) => canHandle(r as 'admin'))).toBe(true);
    expect(['analyst', 'planner', 'gis_editor', 'crew'].some((r) => canHandle(r as 'analyst'))).toBe(false);
  });

  it('filters by status and category', () => {
    const open = incident({ status: 'acknowledged' });
    expect(matchesFilter(open, { status: 'open', category: 'all' })).toBe(true);
    expect(matchesFilter(incident({ status: 'resolved' }), { status: 'open', category: 'all' })).toBe(false);
    expect(matchesFilter(open, { status: 'new', category: 'all' })).toBe(false);
    expect(matchesFilter(open, { status: 'acknowledged', category: 'air' })).toBe(false);
    expect(matchesFilter(open, { status: 'all', category: 'water' })).toBe(true);
  });
});

describe('merging live events', () => {
  it('adds new incidents, replaces older copies and ignores stale ones', () => {
    const first = incident({ id: 1 });
    let result = upsertIncident([], first);
    expect(result).toMatchObject({ added: true, changed: true });
    const newer = incident({ id: 1, status: 'acknowledged', updated_at: '2026-11-26T10:01:00Z' });
    result = upsertIncident(result.list, newer);
    expect(result.added).toBe(false);
    expect(result.list).toHaveLength(1);
    expect(result.list[0].status).toBe('acknowledged');
    // A REST answer older than the live event is ignored.
    const stale = upsertIncident(result.list, incident({ id: 1, status: 'new' }));
    expect(stale.changed).toBe(false);
    expect(stale.list[0].status).toBe('acknowledged');
  });

  it('reads the incident of an event and nothing else', () => {
    const e = { id: 9, topic: 'incident' as const, at: '', territory: 1, payload: { action: 'created', incident: incident() } };
    expect(incidentOf(e)?.action).toBe('created');
    expect(incidentOf({ ...e, topic: 'log' })).toBeNull();
    expect(incidentOf({ ...e, payload: { action: 'created' } })).toBeNull();
  });

  it('keeps log entries once each, in id order', () => {
    const entry = (id: number): LogEntry => ({ id, incident_id: 1, at: '2026-11-26T10:00:00Z', author: 'op', entry: 'note', text: `n${id}` });
    expect(mergeLog([entry(1), entry(3)], [entry(2), entry(3)]).map((e) => e.id)).toEqual([1, 2, 3]);
  });

  it('highlights incidents that arrive live for a while, and only in their territory', () => {
    let now = 1_000_000;
    const store = new IncidentStore(1, () => now);
    const arrivals: number[][] = [];
    store.onChange((a) => arrivals.push(a.map((i) => i.id)));
    const e = (i: Incident, territory: number) => ({ id: i.id, topic: 'incident' as const, at: '', territory, payload: { action: 'created', incident: i } });
    expect(store.apply(e(incident({ id: 5 }), 1))).toBe(true);
    expect(store.apply(e(incident({ id: 6 }), 2))).toBe(false);
    expect(store.isFresh(5)).toBe(true);
    expect(arrivals).toEqual([[5]]);
    expect(store.apply(e(incident({ id: 5, status: 'acknowledged', updated_at: '2026-11-26T10:02:00Z' }), 1))).toBe(true);
    expect(arrivals).toEqual([[5], []]);
    expect(store.get(5)?.status).toBe('acknowledged');
    now += 60_000;
    expect(store.isFresh(5)).toBe(false);
  });
});
