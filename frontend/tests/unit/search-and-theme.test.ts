import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { contrastRatio, PALETTE, TEXT_PAIRS, UI_PAIRS } from '../../src/core/theme';
import { escapeLike, geometryBBox, nameSearchFilter } from '../../src/console/ogc';
import { groupResults } from '../../src/console/search';
import { jobsFrom } from '../../src/crew/view';
import { landingFor } from '../../src/app';
import { arrivalMessage } from '../../src/auth/signin';

describe('search filter (CQL2 text)', () => {
  it('matches case- and accent-insensitively', () => {
    expect(nameSearchFilter('  Princesse Grace ')).toBe(
      "ACCENTI(CASEI(name)) LIKE ACCENTI(CASEI('%Princesse Grace%'))",
    );
  });

  it('escapes quotes and LIKE wildcards', () => {
    expect(nameSearchFilter("l'Église 100%_")).toBe(
      "ACCENTI(CASEI(name)) LIKE ACCENTI(CASEI('%l''Église 100\\%\\_%'))",
    );
    expect(escapeLike('a\\b')).toBe('a\\\\b');
  });

  it('groups street arcs by name and merges their boxes', () => {
    const arc = (id: number, name: string, coords: number[][]) => ({
      type: 'Feature' as const,
      id,
      geometry: { type: 'LineString' as const, coordinates: coords },
      properties: { name },
    });
    const results = groupResults('road_edges', 'search.street', [
      arc(1, 'Rue Grimaldi', [[7.41, 43.73], [7.42, 43.731]]),
      arc(2, 'rue grimaldi', [[7.42, 43.731], [7.43, 43.735]]),
      arc(3, 'Quai Antoine Ier', [[7.42, 43.735], [7.421, 43.736]]),
    ]);
    expect(results.map((r) => [r.label, r.id])).toEqual([['Rue Grimaldi', 1], ['Quai Antoine Ier', 3]]);
    expect(results[0].bbox).toEqual([7.41, 43.73, 7.43, 43.735]);
    expect(geometryBBox({ type: 'Point', coordinates: [1, 2] })).toEqual([1, 2, 1, 2]);
  });
});

describe('colours (WCAG 2.1 AA)', () => {
  it('computes contrast like the WCAG formula', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrastRatio('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
  });

  it('gives text at least 4.5:1 and controls at least 3:1', () => {
    for (const [fg, bg] of TEXT_PAIRS) expect(contrastRatio(PALETTE[fg], PALETTE[bg]), `${fg} on ${bg}`).toBeGreaterThanOrEqual(4.5);
    for (const [fg, bg] of UI_PAIRS) expect(contrastRatio(PALETTE[fg], PALETTE[bg]), `${fg} on ${bg}`).toBeGreaterThanOrEqual(3);
  });

  it('declares the same colours in styles.css', () => {
    const css = readFileSync(new URL('../../src/styles.css', import.meta.url), 'utf8');
    for (const [name, value] of Object.entries(PALETTE)) {
      expect(css, name).toContain(`${name}: ${value};`);
    }
  });
});

describe('routing and crew helpers', () => {
  it('sends crews to their page and others to the console, honouring a safe ?suite=', () => {
    expect(landingFor('crew', null)).toBe('/equipe');
    expect(landingFor('operator', null)).toBe('/');
    expect(landingFor('operator', '/equipe')).toBe('/equipe');
    expect(landingFor('crew', '/')).toBe('/equipe');
    expect(landingFor('operator', '//evil.example')).toBe('/');
    expect(landingFor('operator', 'https://evil.example')).toBe('/');
  });

  it('says why the sign-in page is shown', () => {
    expect(arrivalMessage('expiree')).toBe('signin.expired');
    expect(arrivalMessage(null)).toBeNull();
  });

  it('reads jobs from any envelope', () => {
    expect(jobsFrom(null)).toEqual([]);
    expect(jobsFrom([{ id: 1 }])).toEqual([{ id: 1 }]);
    expect(jobsFrom({ jobs: [{ id: 2, status: 'assigned' }] })).toEqual([{ id: 2, status: 'assigned' }]);
    expect(jobsFrom({ features: [{ id: 3, properties: { title: 'Fuite' } }] })).toEqual([{ id: 3, title: 'Fuite' }]);
  });
});
