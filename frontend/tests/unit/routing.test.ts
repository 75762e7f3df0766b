import { describe, expect, it } from 'vitest';
import {
  closestDirection,
  closestUrl,
  closureBody,
  dashify,
  formatClock,
  formatDistance,
  formatDuration,
  isochroneLegend,
  isochronesUrl,
  metresBetween,
  nearestCandidates,
  parseBudgets,
  planBody,
  renderInstruction,
  routeUrl,
  type LonLat,
} from '../../src/routing/format';
import { contrastRatio } from '../../src/core/theme';

const NBSP = '\u00a0';
const n = (s: string) => s.replace(/[\u00a0\u202f]/g, ' ');

describe('durations and distances, the French way', () => {
  it('formats durations in seconds, minutes, hours', () => {
    expect(n(formatDuration(0, 'fr'))).toBe('0 s');
    expect(n(formatDuration(44.6, 'fr'))).toBe('45 s');
    expect(n(formatDuration(89, 'fr'))).toBe('1 min');
    expect(n(formatDuration(754, 'fr'))).toBe('13 min');
    expect(n(formatDuration(3600, 'fr'))).toBe('1 h 00 min');
    expect(n(formatDuration(3900 + 29, 'en'))).toBe('1 h 05 min');
    expect(formatDuration(90, 'fr')).toContain(NBSP); // a unit never wraps away from its number
  });

  it('formats distances with a decimal comma in French and a point in English', () => {
    expect(n(formatDistance(42.4, 'fr'))).toBe('42 m');
    expect(n(formatDistance(847, 'fr'))).toBe('850 m');
    expect(n(formatDistance(999, 'fr'))).toBe('1,0 km');
    expect(n(formatDistance(1234, 'fr'))).toBe('1,2 km');
    expect(n(formatDistance(1234, 'en'))).toBe('1.2 km');
    expect(n(formatDistance(15_600, 'fr'))).toBe('16 km');
  });

  it('formats clock times and tolerates missing ones', () => {
    const iso = new Date(2026, 10, 26, 14, 5).toISOString();
    expect(formatClock(iso, 'fr')).toBe('14:05');
    expect(formatClock(null, 'fr')).toBe('—');
    expect(formatClock('not a date', 'en')).toBe('—');
  });
});

describe('turn-by-turn', () => {
  it('keeps the server sentence and adds an arrow and the distance', () => {
    const step = { type: 'right', text: 'Tournez à droite sur Avenue de la Costa', street: 'Avenue de la Costa', distance_m: 241.6, duration_s: 20 };
    expect(renderInstruction(step, 'fr')).toEqual({ icon: '➡', text: step.text, distance: `240${NBSP}m` });
    const arrive = renderInstruction({ type: 'arrive', text: 'Vous êtes arrivé', distance_m: 0, duration_s: 0 }, 'fr');
    expect(arrive.distance).toBe('');
    expect(arrive.icon).toBe('⚑');
    expect(renderInstruction({ type: 'something_new', text: 'x', distance_m: 5, duration_s: 1 }, 'fr').icon).toBe('•');
  });
});

describe('isochrones', () => {
  it('parses budgets in minutes', () => {
    expect(parseBudgets('5, 10,15')).toEqual([300, 600, 900]);
    expect(parseBudgets('15 5 10 5')).toEqual([300, 600, 900]);
    expect(parseBudgets('2,5')).toEqual([120, 300]); // commas separate values (whole minutes are expected)
    expect(parseBudgets('2.5')).toEqual([150]);
  });

  it('refuses empty, negative, too long or too many budgets', () => {
    expect(parseBudgets('')).toBeNull();
    expect(parseBudgets('-5')).toBeNull();
    expect(parseBudgets('0')).toBeNull();
    expect(parseBudgets('241')).toBeNull();
    expect(parseBudgets('abc')).toBeNull();
    expect(parseBudgets('1 2 3 4 5 6 7 8 9 10 11')).toBeNull();
  });

  it('builds a legend, smallest budget first and darkest', () => {
    const legend = isochroneLegend([900, 300, 600], 'fr');
    expect(legend.map((l) => l.budget_s)).toEqual([300, 600, 900]);
    expect(legend.map((l) => n(l.label))).toEqual(['≤ 5 min', '≤ 10 min', '≤ 15 min']);
    expect(new Set(legend.map((l) => l.colour)).size).toBe(3);
    // Darker first: contrast with white decreases along the legend.
    const ratios = legend.map((l) => contrastRatio(l.colour, '#ffffff'));
    expect([...ratios].sort((a, b) => b - a)).toEqual(ratios);
    // The swatches are graphics: at least 3:1 against the panel for the first two rings (WCAG 1.4.11).
    expect(contrastRatio(legend[0].colour, '#f4f6f8')).toBeGreaterThan(3);
    expect(legend[0].fill[3]).toBeLessThan(255); // translucent on the map
  });
});

describe('request builders', () => {
  const start: LonLat = [7.4236, 43.7372];
  const end: LonLat = [7.4268, 43.7395];

  it('builds the route URL, GeoJSON or GPX', () => {
    const url = new URL(routeUrl({ territory: 'Monaco', start, end, profile: 'emergency', lang: 'fr' }), 'http://x');
    expect(url.pathname).toBe('/api/routing/route');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      territory: 'Monaco',
      start: '7.423600,43.737200',
      end: '7.426800,43.739500',
      profile: 'emergency',
      lang: 'fr',
      format: 'geojson',
    });
    expect(routeUrl({ territory: 'Monaco', start, end, profile: 'car', lang: 'en', format: 'gpx' })).toContain('format=gpx');
  });

  it('builds isochrone and closest-facility URLs', () => {
    const iso = new URL(isochronesUrl('Monaco', start, [300, 600, 900], 'car'), 'http://x');
    expect(iso.searchParams.get('budgets_s')).toBe('300,600,900');
    const closest = new URL(closestUrl('Monaco', start, 'hospital', 3, 'emergency'), 'http://x');
    expect(closest.searchParams.get('direction')).toBe('to_facilities');
    expect(closest.searchParams.get('k')).toBe('3');
    expect(closestDirection('fire_station')).toBe('from_facilities');
  });

  it('builds closure bodies by street and by zone', () => {
    expect(closureBody({ territory: 'Monaco', reason: ' travaux ', duration_s: 3600, edge_ids: [13, 12, 13] })).toEqual({
      territory: 'Monaco',
      kind: 'closure',
      reason: 'travaux',
      edge_ids: [12, 13],
      duration_s: 3600,
    });
    const zone = closureBody({ territory: 'Monaco', reason: 'inondation', duration_s: null, ring: [[0, 0], [1, 0], [1, 1]] });
    expect(zone.area).toEqual({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] });
    expect(zone).not.toHaveProperty('duration_s');
    expect(() => closureBody({ territory: 'Monaco', reason: '  ', duration_s: null, edge_ids: [1] })).toThrow('reason');
    expect(() => closureBody({ territory: 'Monaco', reason: 'x', duration_s: null, ring: [[0, 0], [1, 1]] })).toThrow('ring');
    expect(() => closureBody({ territory: 'Monaco', reason: 'x', duration_s: null })).toThrow('target');
  });

  it('builds the plan body with a small budget, applied', () => {
    expect(planBody('Monaco', 2)).toEqual({ territory: 'Monaco', time_budget_s: 2, apply: true });
  });
});

describe('closure drawing and picking', () => {
  it('cuts a line into dashes of the asked length', () => {
    const line: LonLat[] = [
      [7.42, 43.73],
      [7.421, 43.73],
      [7.421, 43.7305],
    ];
    const total = metresBetween(line[0], line[1]) + metresBetween(line[1], line[2]);
    const dashes = dashify(line, 10, 5);
    const drawn = dashes.reduce((sum, d) => sum + d.slice(1).reduce((s, p, i) => s + metresBetween(d[i], p), 0), 0);
    expect(dashes.length).toBeGreaterThan(5);
    expect(drawn / total).toBeGreaterThan(0.6);
    expect(drawn / total).toBeLessThan(0.72);
    for (const d of dashes.slice(0, -1)) {
      const length = d.slice(1).reduce((s, p, i) => s + metresBetween(d[i], p), 0);
      expect(length).toBeCloseTo(10, 5);
    }
    expect(dashify([[0, 0]])).toEqual([]);
  });

  it('picks the nearest street and its other direction drawn on top of it', () => {
    const candidates = [
      { value: 'a→b', lines: [[[0, 10], [100, 10]] as [number, number][]] },
      { value: 'b→a', lines: [[[100, 10], [0, 10]] as [number, number][]] },
      { value: 'side', lines: [[[0, 16], [100, 16]] as [number, number][]] },
      { value: 'far', lines: [[[0, 60], [100, 60]] as [number, number][]] },
    ];
    expect(nearestCandidates([50, 11], candidates)).toEqual(['a→b', 'b→a']);
    expect(nearestCandidates([50, 15], candidates)).toEqual(['side']);
    expect(nearestCandidates([50, 35], candidates)).toEqual([]);
  });
});
