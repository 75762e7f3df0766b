import { describe, expect, it } from 'vitest';
import { formatLambert93, formatWgs84, lambert93 } from '../../src/console/coords';

const flat = (s: string) => s.replace(/[\u202f\u00a0]/g, ' ');

describe('coordinates', () => {
  it('projects to Lambert-93 like PROJ', () => {
    // Reference values from pyproj (PROJ 9) EPSG:4326 → EPSG:2154, always_xy.
    const [x, y] = lambert93(2.3499, 48.853); // Paris, Notre-Dame
    expect(x).toBeCloseTo(652296.97, 1);
    expect(y).toBeCloseTo(6861636.36, 1);
    const [xm, ym] = lambert93(7.424621, 43.738472); // Monaco (outside France, still defined)
    expect(xm).toBeCloseTo(1056323.9, 1);
    expect(ym).toBeCloseTo(6303257.73, 1);
    // The projection's origin: (3°E, 46.5°N) → (700 000, 6 600 000).
    const [x0, y0] = lambert93(3, 46.5);
    expect(x0).toBeCloseTo(700000, 3);
    expect(y0).toBeCloseTo(6600000, 3);
  });

  it('formats WGS 84 in French and English', () => {
    expect(flat(formatWgs84(7.424621, 43.738472, 'fr'))).toBe('43,73847° N ; 7,42462° E');
    expect(formatWgs84(-1.5, -20.25, 'en')).toBe('20.25000° S, 1.50000° W');
    expect(flat(formatWgs84(-1.5, 47.2, 'fr'))).toBe('47,20000° N ; 1,50000° O');
  });

  it('formats Lambert-93 metres with French separators', () => {
    expect(flat(formatLambert93(3, 46.5, 'fr'))).toBe('X 700 000,0 m ; Y 6 600 000,0 m');
    expect(formatLambert93(3, 46.5, 'en')).toBe('X 700,000.0 m, Y 6,600,000.0 m');
  });
});
