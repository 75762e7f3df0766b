import { describe, expect, it } from 'vitest';
import { chartGeometry, niceStep, type ChartSize } from '../../src/sensing/chart';
import { applyValues, formatValue, groupByKind, lastDay, statusColour, STATUS_COLOURS, type Kind, type Sensor, type SeriesPoint } from '../../src/sensing/model';

const NBSP = /[\u00a0\u202f]/g;

const sensor = (over: Partial<Sensor> = {}): Sensor => ({
  id: 1,
  territory_id: 1,
  name: 'P-12',
  kind: 'water_pressure',
  unit: 'm',
  lon: 7.42,
  lat: 43.73,
  asset_layer: null,
  asset_id: null,
  latest: { observed_at: '2026-11-26T10:00:00.000Z', value: 52.3 },
  status: 'late',
  open_detections: 0,
  ...over,
});

const kinds: Kind[] = [
  { kind: 'water_pressure', unit: 'm', title_fr: 'Pression d’eau', title_en: 'Water pressure', visibility: 'restricted', category: 'water', expected_interval_s: 300 },
  { kind: 'no2', unit: 'µg/m³', title_fr: 'Dioxyde d’azote', title_en: 'Nitrogen dioxide', visibility: 'public', category: 'air', expected_interval_s: 3600 },
];

describe('sensor values', () => {
  it('formats values with their unit and sensible digits', () => {
    expect(formatValue(52.34, 'm', 'fr')).toBe('52,3\u00a0m');
    expect(formatValue(7.254, 'µg/m³', 'fr')).toBe('7,25\u00a0µg/m³');
    expect(formatValue(1234.5, 'm³/h', 'fr').replace(NBSP, ' ')).toBe('1 235 m³/h');
    expect(formatValue(1234.5, 'm³/h', 'en').replace(NBSP, ' ')).toBe('1,235 m³/h');
    expect(formatValue(0.0123, 'mm', 'en')).toBe('0.012\u00a0mm');
    expect(formatValue(1, '1', 'fr')).toBe('1'); // a state (0/1) has no unit to show
    expect(formatValue(null, 'm', 'fr')).toBe('—');
    expect(formatValue(Number.NaN, 'm', 'fr')).toBe('—');
  });

  it('groups sensors by kind title, names in natural order, after the kind filter', () => {
    const list = [sensor({ id: 1, name: 'P-12' }), sensor({ id: 2, name: 'P-2' }), sensor({ id: 3, kind: 'no2', name: 'Air 1' }), sensor({ id: 4, kind: 'unknown_kind', name: 'X' })];
    const groups = groupByKind(list, kinds, 'fr');
    expect(groups.map((g) => g.title)).toEqual(['Dioxyde d’azote', 'Pression d’eau', 'unknown_kind']);
    expect(groups[1].sensors.map((s) => s.name)).toEqual(['P-2', 'P-12']);
    expect(groupByKind(list, kinds, 'en', 'no2').map((g) => [g.title, g.sensors.length])).toEqual([['Nitrogen dioxide', 1]]);
  });

  it('applies newer live values and ignores older ones and unknown sensors', () => {
    const sensors = new Map([[1, sensor()]]);
    const newer = Date.parse('2026-11-26T10:05:00Z');
    expect(applyValues(sensors, [[1, newer, 48.1], [99, newer, 1]])).toEqual([1]);
    expect(sensors.get(1)?.latest).toEqual({ observed_at: '2026-11-26T10:05:00.000Z', value: 48.1 });
    expect(sensors.get(1)?.status).toBe('ok');
    expect(applyValues(sensors, [[1, Date.parse('2026-11-26T09:00:00Z'), 10]])).toEqual([]);
    expect(sensors.get(1)?.latest?.value).toBe(48.1);
    // A sensor never heard gets its first value.
    const silent = new Map([[2, sensor({ id: 2, latest: null, status: 'never' })]]);
    expect(applyValues(silent, [[2, newer, 3]])).toEqual([2]);
  });

  it('has a distinct colour per status, grey for anything unknown', () => {
    expect(new Set(Object.values(STATUS_COLOURS)).size).toBe(4);
    expect(statusColour('bogus')).toBe(STATUS_COLOURS.never);
  });

  it('asks for the last 24 hours', () => {
    const now = Date.parse('2026-11-26T10:00:00Z');
    expect(lastDay(now)).toEqual({ from: '2026-11-25T10:00:00.000Z', to: '2026-11-26T10:00:00.000Z' });
  });
});

describe('chart geometry', () => {
  const size: ChartSize = { width: 110, height: 60, left: 10, right: 0, top: 0, bottom: 10 };
  const from = 0;
  const to = 3 * 3600_000;
  const point = (h: number, mean: number): SeriesPoint => [h * 3600_000, mean, mean - 1, mean + 1, 3];

  it('maps time to x and value to y, thresholds included in the range', () => {
    const g = chartGeometry([point(0, 10), point(1, 20), point(2, 30)], [{ value: 40, severity: 'alert', label: 'Seuil' }], from, to, 3600, size);
    // Range: min 9 (a min), max 40 (the threshold), padded by 5 %.
    expect(g.range.min).toBeCloseTo(9 - 1.55);
    expect(g.range.max).toBeCloseTo(40 + 1.55);
    expect(g.line.startsWith('M10,')).toBe(true);
    expect(g.line.split('L')).toHaveLength(3);
    expect(g.thresholds).toHaveLength(1);
    expect(g.thresholds[0].y).toBeLessThan(g.last!.y); // above the last point (y grows downwards)
    expect(g.thresholds[0].label).toBe('Seuil');
    expect(g.last!.x).toBeCloseTo(10 + (2 / 3) * 100, 0);
    expect(g.band.endsWith('Z')).toBe(true);
    expect(g.xTicks.map((t) => t.x)).toEqual([10, 43.3, 76.7, 110]);
  });

  it('leaves out thresholds far from the data instead of flattening the line', () => {
    const g = chartGeometry([point(0, 20), point(1, 30)], [{ value: 200, severity: 'info' }, { value: 40, severity: 'alert' }], from, to, 3600, size);
    expect(g.thresholds.map((t) => t.value)).toEqual([40]);
    expect(g.range.max).toBeLessThan(45);
    // Without data, thresholds set the scale.
    expect(chartGeometry([], [{ value: 200, severity: 'info' }], from, to, 3600, size).thresholds).toHaveLength(1);
  });

  it('breaks the line where data is missing, not between sparse but regular readings', () => {
    const g = chartGeometry([point(0, 1), point(0.1, 1), point(0.2, 1), point(2, 1)], [], from, to, 60, size);
    expect(g.line.match(/M/g)).toHaveLength(2);
    // Every 5 min in 1-min buckets: one line.
    const every5 = Array.from({ length: 6 }, (_, i) => point(i / 12, i));
    expect(chartGeometry(every5, [], from, to, 60, size).line.match(/M/g)).toHaveLength(1);
    // An hourly kind: an hour and a half between two readings is no gap.
    expect(chartGeometry([point(0, 1), point(1.5, 2)], [], from, to, 60, size, 3600).line.match(/M/g)).toHaveLength(1);
  });

  it('draws nothing but the axes without data, and survives a flat series', () => {
    const empty = chartGeometry([], [], from, to, 3600, size);
    expect(empty.line).toBe('');
    expect(empty.band).toBe('');
    expect(empty.last).toBeNull();
    const flat = chartGeometry([point(0, 5), point(1, 5)], [], from, to, 3600, size);
    expect(Number.isFinite(flat.last!.y)).toBe(true);
  });

  it('draws raw readings ([epoch_ms, value]) as well as buckets', () => {
    const raw = [[0, 4], [1800_000, 6]] as unknown as SeriesPoint[];
    const g = chartGeometry(raw, [], from, to, 60, size);
    expect(g.line.match(/L/g)).toHaveLength(1);
    expect(g.band).not.toContain('NaN');
  });

  it('chooses round tick steps', () => {
    expect(niceStep(10)).toBe(5);
    expect(niceStep(100)).toBe(50);
    expect(niceStep(0.7)).toBeCloseTo(0.2);
    expect(niceStep(0)).toBe(1);
  });
});
