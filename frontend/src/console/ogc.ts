// The OGC API Features calls the console makes (collections, queryables, items, CQL2 search).
import { api } from '../core/api';
import { getLang } from '../i18n';

export interface Collection {
  id: string;
  title: string;
  description?: string;
}

export interface Queryables {
  properties: Record<string, { title?: string; type?: string; format?: string }>;
}

export interface Feature {
  type: 'Feature';
  id: string | number;
  geometry: GeoJSON.Geometry | null;
  properties: Record<string, unknown>;
}

export interface FeatureCollection {
  type: 'FeatureCollection';
  features: Feature[];
}

const queryablesCache = new Map<string, Promise<Queryables>>();

export async function fetchCollections(): Promise<Collection[]> {
  const doc = await api<{ collections: Collection[] }>('/ogc/collections');
  return doc.collections;
}

/** The queryables (French or English field titles) of a collection, fetched once per language. */
export function fetchQueryables(collection: string): Promise<Queryables> {
  const key = `${getLang()}:${collection}`;
  let found = queryablesCache.get(key);
  if (!found) {
    found = api<Queryables>(`/ogc/collections/${encodeURIComponent(collection)}/queryables`);
    found.catch(() => queryablesCache.delete(key));
    queryablesCache.set(key, found);
  }
  return found;
}

export function fetchFeature(collection: string, id: string | number): Promise<Feature> {
  return api<Feature>(
    `/ogc/collections/${encodeURIComponent(collection)}/items/${encodeURIComponent(String(id))}`,
  );
}

export function fetchItems(
  collection: string,
  params: Record<string, string>,
  signal?: AbortSignal,
): Promise<FeatureCollection> {
  const query = new URLSearchParams(params).toString();
  return api<FeatureCollection>(`/ogc/collections/${encodeURIComponent(collection)}/items?${query}`, { signal });
}

/** A CQL2 string literal: single quotes doubled. */
export function cql2Literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** `LIKE` wildcards and the escape character taken literally (CQL2's escape is the backslash). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The CQL2 text filter of a name search: case- and accent-insensitive substring match
 * (`eglise` finds `Église Sainte-Dévote`), as docs/api.md lists `CASEI` and `ACCENTI`.
 */
export function nameSearchFilter(query: string, property = 'name'): string {
  const pattern = cql2Literal(`%${escapeLike(query.trim())}%`);
  return `ACCENTI(CASEI(${property})) LIKE ACCENTI(CASEI(${pattern}))`;
}

/** The bounding box of a GeoJSON geometry ([minLon, minLat, maxLon, maxLat]), null when empty. */
export function geometryBBox(geometry: GeoJSON.Geometry | null): [number, number, number, number] | null {
  if (!geometry) return null;
  let box: [number, number, number, number] | null = null;
  const visit = (coords: unknown): void => {
    if (Array.isArray(coords) && typeof coords[0] === 'number') {
      const [x, y] = coords as number[];
      box = box ? [Math.min(box[0], x), Math.min(box[1], y), Math.max(box[2], x), Math.max(box[3], y)] : [x, y, x, y];
    } else if (Array.isArray(coords)) {
      coords.forEach(visit);
    }
  };
  if (geometry.type === 'GeometryCollection') {
    return geometry.geometries.reduce<[number, number, number, number] | null>(
      (acc, g) => unionBBox(acc, geometryBBox(g)),
      null,
    );
  }
  visit(geometry.coordinates);
  return box;
}

/** The union of two boxes (either may be null). */
export function unionBBox(
  a: [number, number, number, number] | null,
  b: [number, number, number, number] | null,
): [number, number, number, number] | null {
  if (!a) return b;
  if (!b) return a;
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}
