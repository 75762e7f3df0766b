import { describe, expect, it } from 'vitest';
import {
  applyRunEvent,
  buildEvent,
  buildMeasure,
  canEditScenarios,
  causeColour,
  describe as describeItem,
  downloadUrl,
  formatDelta,
  formatKpi,
  kpiRows,
  parseNumber,
  progressPercent,
  rampColour,
  ringPolygon,
  verdict,
  type Comparison,
  type Run,
} from '../../src/scenarios/model';
import { topReasons } from '../../src/incidents/consequences';

const NBSP = /[\u00a0\u202f]/g;
const plain = (s: string) => s.replace(NBSP, ' ');

const row = (over: Partial<Comparison>): Comparison => ({
  kpi: 'residents_hit',
  label: { fr: 'Habitants touchés', en: 'Residents hit' },
  unit: 'habitants',
  baseline: 120,
  scenario: 1450,
  delta: 1330,
  better: 'lower',
  ...over,
});

const run = (over: Partial<Run> = {}): Run => ({
  id: 7,
  scenario_id: 3,
  scenario_version: 2,
  status: 'running',
  progress: 0.4,
  stage: 'accès',
  requested_by: 'planner',
  queued_at: '2026-11-26T10:00:00Z',
  started_at: '2026-11-26T10:00:01Z',
  finished_at: null,
  error: null,
  kpis: null,
  baseline_kpis: null,
  comparison: null,
  ...over,
});

describe('KPI comparison', () => {
  it('says better or worse by the KPI’s own direction', () => {
    expect(verdict(row({}))).toBe('worse');
    expect(verdict(row({ baseline: 100, scenario: 40, delta: -60 }))).toBe('better');
    expect(verdict(row({ better: 'higher', baseline: 100, scenario: 40, delta: -60 }))).toBe('worse');
    expect(verdict(row({ baseline: 5, scenario: 5, delta: 0 }))).toBe('same');
    expect(verdict(row({ baseline: null, scenario: null, delta: null }))).toBe('unknown');
    // No delta given: computed from the two values.
    expect(verdict(row({ baseline: 10, scenario: 4, delta: null }))).toBe('better');
  });

  it('formats counts, durations and volumes in French and English', () => {
    expect(plain(formatKpi(1450, 'habitants', 'fr'))).toBe('1 450');
    expect(formatKpi(1450, 'habitants', 'en')).toBe('1,450');
    expect(plain(formatKpi(240, 's', 'fr'))).toBe('4 min');
    expect(plain(formatKpi(12.5, 'm³', 'fr'))).toBe('12,5 m³');
    expect(plain(formatKpi(3, 'points lumineux', 'fr'))).toBe('3');
    expect(formatKpi(null, 's', 'fr')).toBe('—');
    expect(plain(formatDelta(1330, 'residents', 'fr'))).toBe('+1 330');
    expect(plain(formatDelta(-120, 's', 'en'))).toBe('−2 min');
    expect(formatDelta(0, 's', 'fr')).toBe('0');
    expect(formatDelta(null, 's', 'fr')).toBe('—');
  });

  it('builds the table rows in the server’s order and the UI language', () => {
    const rows = kpiRows(
      [row({}), row({ kpi: 'worst_fire_access_delay_s', label: { fr: 'Pire retard pompiers', en: 'Worst fire delay' }, unit: 's', baseline: 0, scenario: 180, delta: 180 })],
      'en',
    );
    expect(rows.map((r) => r.kpi)).toEqual(['residents_hit', 'worst_fire_access_delay_s']);
    expect(rows[1]).toMatchObject({ label: 'Worst fire delay', baseline: '0\u00a0s', scenario: '3\u00a0min', verdict: 'worse' });
    expect(plain(rows[1].delta)).toBe('+3 min');
    expect(kpiRows(null, 'fr')).toEqual([]);
  });
});

describe('event and measure forms', () => {
  const ring: [number, number][] = [
    [7.42, 43.73],
    [7.43, 43.73],
    [7.43, 43.74],
  ];

  it('reads numbers typed with a French comma and refuses junk', () => {
    expect(parseNumber('0,5')).toBe(0.5);
    expect(parseNumber('', 3)).toBe(3);
    expect(parseNumber('12 m')).toBeNaN();
  });

  it('closes a drawn ring into a polygon, and needs three corners', () => {
    expect(ringPolygon(ring)?.coordinates[0]).toEqual([...ring, ring[0]]);
    expect(ringPolygon(ring.slice(0, 2))).toBeNull();
  });

  it('builds each event type from its form, the contract’s JSON shape', () => {
    expect(buildEvent({ type: 'road_closure', edgeIds: [4, 5, 4], reason: ' travaux ', atMin: '10' })).toEqual({
      ok: true,
      value: { type: 'road_closure', edge_ids: [4, 5], reason: 'travaux', at_s: 600 },
    });
    const flood = buildEvent({ type: 'flood', ring, waterLevelM: '0,8' });
    expect(flood.ok && flood.value).toMatchObject({ type: 'flood', water_level_m: 0.8, at_s: 0, area: { type: 'Polygon' } });
    expect(buildEvent({ type: 'flood', ring, waterLevelM: '' })).toMatchObject({ ok: true, value: { water_level_m: null } });
    expect(buildEvent({ type: 'pipe_burst', pipe: ' P12 ' })).toEqual({ ok: true, value: { type: 'pipe_burst', pipe: 'P12', at_s: 0 } });
    expect(buildEvent({ type: 'pump_failure', pump: 'PU1' })).toEqual({ ok: true, value: { type: 'pump_failure', pump: 'PU1', at_s: 0 } });
    expect(buildEvent({ type: 'power_failure', feederIds: '3, 8' })).toEqual({ ok: true, value: { type: 'power_failure', area: null, feeder_ids: [3, 8], at_s: 0 } });
    expect(buildEvent({ type: 'pollution_plume', source: [7.42, 43.73], windFromDeg: '270', windSpeedMS: '', lengthM: '1500', pollutant: 'NO2' })).toEqual({
      ok: true,
      value: { type: 'pollution_plume', source: [7.42, 43.73], wind_from_deg: 270, wind_speed_m_s: 3, length_m: 1500, pollutant: 'NO2', at_s: 0 },
    });
  });

  it('names the first problem of a form', () => {
    expect(buildEvent({ type: 'road_closure', edgeIds: [] })).toEqual({ ok: false, problem: 'scenarios.problem.streets' });
    expect(buildEvent({ type: 'road_closure', edgeIds: [1], atMin: '-5' })).toEqual({ ok: false, problem: 'scenarios.problem.at' });
    expect(buildEvent({ type: 'flood', ring: ring.slice(0, 2) })).toEqual({ ok: false, problem: 'scenarios.problem.area' });
    expect(buildEvent({ type: 'flood', ring, waterLevelM: '45' })).toEqual({ ok: false, problem: 'scenarios.problem.waterLevel' });
    expect(buildEvent({ type: 'pipe_burst', pipe: '  ' })).toEqual({ ok: false, problem: 'scenarios.problem.pipe' });
    expect(buildEvent({ type: 'power_failure', feederIds: '' })).toEqual({ ok: false, problem: 'scenarios.problem.powerArea' });
    expect(buildEvent({ type: 'power_failure', feederIds: '3, x' })).toEqual({ ok: false, problem: 'scenarios.problem.feeders' });
    expect(buildEvent({ type: 'pollution_plume', source: null, windFromDeg: '270' })).toEqual({ ok: false, problem: 'scenarios.problem.source' });
    expect(buildEvent({ type: 'pollution_plume', source: [7.4, 43.7], windFromDeg: '400' })).toEqual({ ok: false, problem: 'scenarios.problem.windFrom' });
    expect(buildEvent({ type: 'pollution_plume', source: [7.4, 43.7], windFromDeg: '90', lengthM: '5' })).toEqual({ ok: false, problem: 'scenarios.problem.length' });
  });

  it('builds measures, the crew sent to an existing event only', () => {
    expect(buildMeasure({ type: 'reopen_road', closureIds: [12] }, 1)).toEqual({ ok: true, value: { type: 'reopen_road', closure_ids: [12], at_s: 0 } });
    expect(buildMeasure({ type: 'send_crew', crewId: '4', eventIndex: '0' }, 1)).toEqual({ ok: true, value: { type: 'send_crew', crew_id: 4, event: 0, at_s: 0 } });
    expect(buildMeasure({ type: 'send_crew', crewId: '4', eventIndex: '1' }, 1)).toEqual({ ok: false, problem: 'scenarios.problem.crewEvent' });
    expect(buildMeasure({ type: 'send_crew', crewId: '', eventIndex: '0' }, 1)).toEqual({ ok: false, problem: 'scenarios.problem.crew' });
    expect(buildMeasure({ type: 'operate_valve', valve: 'V-P12-J3', open: false }, 0)).toEqual({ ok: true, value: { type: 'operate_valve', valve: 'V-P12-J3', open: false, at_s: 0 } });
    expect(buildMeasure({ type: 'close_road', edgeIds: [9] }, 0)).toEqual({ ok: true, value: { type: 'close_road', edge_ids: [9], reason: '', at_s: 0 } });
    expect(buildMeasure({ type: 'reopen_road', closureIds: [] }, 0)).toEqual({ ok: false, problem: 'scenarios.problem.closures' });
  });

  it('describes events and measures in a line', () => {
    expect(describeItem({ type: 'road_closure', edge_ids: [1, 2], reason: 'travaux', at_s: 600 }, 'fr').replace(NBSP, ' ')).toBe('2 tronçon(s) — travaux (à +10 min)');
    expect(describeItem({ type: 'operate_valve', valve: 'V3', open: false }, 'en')).toBe('V3 closed');
  });
});

describe('runs and layers', () => {
  it('applies live progress to the watched run only, and never un-finishes it', () => {
    const r = run();
    expect(applyRunEvent(r, { kind: 'run', run_id: 7, status: 'running', progress: 0.8, stage: 'eau' })).toMatchObject({ progress: 0.8, stage: 'eau' });
    expect(applyRunEvent(r, { kind: 'run', run_id: 8, status: 'done', progress: 1 })).toBe(r);
    const done = run({ status: 'done', progress: 1 });
    expect(applyRunEvent(done, { kind: 'run', run_id: 7, status: 'running', progress: 0.9 })).toBe(done);
    expect(progressPercent(run({ progress: 0.426 }))).toBe(43);
    expect(progressPercent(run({ status: 'done', progress: 0.9 }))).toBe(100);
    expect(progressPercent(run({ progress: 7 }))).toBe(100);
  });

  it('lets admin, operator and planner edit; the others read', () => {
    expect(['admin', 'operator', 'planner'].every((r) => canEditScenarios(r as never))).toBe(true);
    expect(['analyst', 'gis_editor', 'crew'].some((r) => canEditScenarios(r as never))).toBe(false);
  });

  it('colours H3 cells on a ramp that grows with the residents hit', () => {
    const light = rampColour(1, 1000);
    const dark = rampColour(1000, 1000);
    expect(rampColour(0, 1000)).toEqual([255, 245, 214, 170]);
    expect(dark).toEqual([127, 0, 0, 170]);
    expect(light[1]).toBeGreaterThan(dark[1]);
    expect(causeColour(['flooded', 'road_isolated'])).toBe('#0a58a8');
    expect(causeColour(['mystery'])).toBe('#4a5560');
    expect(downloadUrl(7, 'geojson')).toBe('/api/simulation/runs/7/download?format=geojson');
  });

  it('picks the top reasons of an incident’s report, critical sites first', () => {
    const reasons = topReasons(
      {
        affected: [
          { layer: 'buildings', id: 1, name: null, kind: 'house', residents: 40, causes: ['no_water'], since_s: 0, reasons: [{ cause: 'no_water', fr: 'bâtiment 1 sans eau', en: 'building 1 without water' }] },
          { layer: 'critical_sites', id: 2, name: 'École', kind: 'school', residents: 0, causes: ['no_water'], since_s: 0, reasons: [{ cause: 'no_water', fr: 'école sans eau', en: 'school without water' }] },
          { layer: 'buildings', id: 3, name: null, kind: 'house', residents: 90, causes: ['no_water'], since_s: 0, reasons: [{ cause: 'no_water', fr: 'bâtiment 3 sans eau', en: 'building 3 without water' }] },
        ],
      },
      'fr',
      2,
    );
    expect(reasons).toEqual(['école sans eau', 'bâtiment 3 sans eau']);
    expect(topReasons(null, 'en')).toEqual([]);
  });
});
