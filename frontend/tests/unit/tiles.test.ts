import { describe, expect, it } from 'vitest';
import { lonLatToTileFraction, tileBBox, tileMeets, tilesForBBox, tilesToRefresh, type BBox } from '../../src/live/tiles';

describe('tile maths', () => {
  it('finds the tile of a point (Monaco, z15, as morecantile computes it)', () => {
    const [x, y] = lonLatToTileFraction(7.4246, 43.7384, 15);
    expect([Math.floor(x), Math.floor(y)]).toEqual([17059, 11948]);
  });

  it('round-trips tile bounds', () => {
    const box = tileBBox({ z: 15, x: 17059, y: 11948 });
    expect(box[0]).toBeLessThan(7.4246);
    expect(box[2]).toBeGreaterThan(7.4246);
    expect(box[1]).toBeLessThan(43.7384);
    expect(box[3]).toBeGreaterThan(43.7384);
    expect(tilesForBBox([box[0] + 1e-4, box[1] + 1e-4, box[2] - 1e-4, box[3] - 1e-4], 15, 0)).toEqual([
      { z: 15, x: 17059, y: 11948 },
    ]);
  });

  it('covers every tile a box meets, buffer included', () => {
    const box = tileBBox({ z: 14, x: 8529, y: 5974 });
    // A point box on the tile's west edge meets the tile and its west neighbour (the 64/4096 buffer).
    const edge: BBox = [box[0], (box[1] + box[3]) / 2, box[0], (box[1] + box[3]) / 2];
    expect(tilesForBBox(edge, 14).map((t) => t.x).sort()).toEqual([8528, 8529]);
    // Well inside: only the tile itself.
    const mid: BBox = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
    expect(tilesForBBox(mid, 14)).toEqual([{ z: 14, x: 8529, y: 5974 }]);
  });

  it('counts a box across several tiles', () => {
    const tiles = tilesForBBox([7.40, 43.72, 7.44, 43.76], 15, 0);
    const xs = new Set(tiles.map((t) => t.x));
    const ys = new Set(tiles.map((t) => t.y));
    expect(tiles.length).toBe(xs.size * ys.size);
    expect(xs.size).toBeGreaterThanOrEqual(4);
  });

  it('clamps at the edges of the world and splits an antimeridian box', () => {
    expect(tilesForBBox([-180, -90, 180, 90], 1, 0)).toHaveLength(4);
    const split = tilesForBBox([179, -1, -179, 1], 3, 0);
    expect(new Set(split.map((t) => t.x))).toEqual(new Set([0, 7]));
  });

  it('keeps only the loaded tiles a change meets, any zoom, each once', () => {
    const change: BBox = [7.4246, 43.7384, 7.4247, 43.7385];
    const loaded = [
      { z: 15, x: 17059, y: 11948 },
      { z: 15, x: 17059, y: 11948 },
      { z: 15, x: 17060, y: 11948 },
      { z: 14, x: 8529, y: 5974 },
      { z: 16, x: 0, y: 0 },
    ];
    expect(tilesToRefresh(loaded, change)).toEqual([
      { z: 15, x: 17059, y: 11948 },
      { z: 14, x: 8529, y: 5974 },
    ]);
    expect(tilesToRefresh(loaded, null)).toHaveLength(4);
    expect(tileMeets({ z: 16, x: 0, y: 0 }, change)).toBe(false);
  });
});
