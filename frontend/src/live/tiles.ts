// Web Mercator tile maths (XYZ scheme, what MapLibre and the server use): which tiles a changed box meets.

export type BBox = [number, number, number, number]; // minLon, minLat, maxLon, maxLat (WGS 84)

export interface TileId {
  z: number;
  x: number;
  y: number;
}

/** The server's tiles are 4096 units with a 64-unit buffer: a feature that close to an edge is in both tiles. */
export const TILE_BUFFER_FRACTION = 64 / 4096;
const MAX_LAT = 85.0511287798066;

/** Fractional tile coordinates of a point at zoom `z` (x grows east, y grows south). */
export function lonLatToTileFraction(lon: number, lat: number, z: number): [number, number] {
  const n = 2 ** z;
  const clamped = Math.max(-MAX_LAT, Math.min(MAX_LAT, lat));
  const rad = (clamped * Math.PI) / 180;
  const x = ((lon + 180) / 360) * n;
  const y = ((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n;
  return [x, y];
}

/** The WGS 84 bounds of a tile. */
export function tileBBox({ z, x, y }: TileId): BBox {
  const n = 2 ** z;
  const lon = (col: number) => (col / n) * 360 - 180;
  const lat = (row: number) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * row) / n))) * 180) / Math.PI;
  return [lon(x), lat(y + 1), lon(x + 1), lat(y)];
}

/**
 * Every tile of zoom `z` whose buffered extent meets `bbox` (the tiles whose content a change inside `bbox`
 * may alter), as the server's cache invalidation computes them. A box crossing the antimeridian
 * (minLon > maxLon) is split in two.
 */
export function tilesForBBox(bbox: BBox, z: number, buffer = TILE_BUFFER_FRACTION): TileId[] {
  const [minLon, minLat, maxLon, maxLat] = bbox;
  if (minLon > maxLon) {
    return [
      ...tilesForBBox([minLon, minLat, 180, maxLat], z, buffer),
      ...tilesForBBox([-180, minLat, maxLon, maxLat], z, buffer),
    ];
  }
  const n = 2 ** z;
  const [x0f, y0f] = lonLatToTileFraction(minLon, maxLat, z);
  const [x1f, y1f] = lonLatToTileFraction(maxLon, minLat, z);
  const clamp = (v: number) => Math.max(0, Math.min(n - 1, v));
  const x0 = clamp(Math.floor(x0f - buffer));
  const x1 = clamp(Math.floor(x1f + buffer));
  const y0 = clamp(Math.floor(y0f - buffer));
  const y1 = clamp(Math.floor(y1f + buffer));
  const out: TileId[] = [];
  for (let x = x0; x <= x1; x++) for (let y = y0; y <= y1; y++) out.push({ z, x, y });
  return out;
}

/** Does the tile's buffered extent meet `bbox`? (`null` bbox: the whole layer changed.) */
export function tileMeets(tile: TileId, bbox: BBox | null, buffer = TILE_BUFFER_FRACTION): boolean {
  if (bbox === null) return true;
  return tilesForBBox(bbox, tile.z, buffer).some((t) => t.x === tile.x && t.y === tile.y);
}

/** Of the `loaded` tiles, those a change in `bbox` touches (deduplicated, any zoom). */
export function tilesToRefresh(loaded: TileId[], bbox: BBox | null): TileId[] {
  const seen = new Set<string>();
  const out: TileId[] = [];
  for (const tile of loaded) {
    const key = `${tile.z}/${tile.x}/${tile.y}`;
    if (seen.has(key) || !tileMeets(tile, bbox)) continue;
    seen.add(key);
    out.push(tile);
  }
  return out;
}
