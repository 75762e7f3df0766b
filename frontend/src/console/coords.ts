// Coordinates under the cursor: WGS 84 degrees and Lambert-93 metres (EPSG:2154, the metropolitan French
// projected CRS), computed in the browser by proj4 with the definition bundled here (no registry lookup).
import proj4 from 'proj4';
import { formatNumber, type Lang } from '../i18n';

/** EPSG:2154 — RGF93 v1 / Lambert-93 (proj4 string as published by the EPSG registry, towgs84 null shift). */
export const EPSG_2154 =
  '+proj=lcc +lat_0=46.5 +lon_0=3 +lat_1=49 +lat_2=44 +x_0=700000 +y_0=6600000 +ellps=GRS80 ' +
  '+towgs84=0,0,0,0,0,0,0 +units=m +no_defs +type=crs';

proj4.defs('EPSG:2154', EPSG_2154);
const toLambert93 = proj4('EPSG:4326', 'EPSG:2154');

/** Lambert-93 easting and northing (metres) of a WGS 84 point. */
export function lambert93(lon: number, lat: number): [number, number] {
  const [x, y] = toLambert93.forward([lon, lat]);
  return [x, y];
}

/** `43,73847° N  7,42462° E` (French) or `43.73847° N, 7.42462° E` (English); 5 decimals ≈ 1 m. */
export function formatWgs84(lon: number, lat: number, lang: Lang): string {
  const ns = lat >= 0 ? 'N' : 'S';
  const ew = lon >= 0 ? 'E' : (lang === 'fr' ? 'O' : 'W');
  const sep = lang === 'fr' ? ' ; ' : ', ';
  return `${formatNumber(Math.abs(lat), 5, lang)}° ${ns}${sep}${formatNumber(Math.abs(lon), 5, lang)}° ${ew}`;
}

/** `X 1 044 123,4 m ; Y 6 298 456,7 m` (French spacing and decimal comma) or the English equivalent. */
export function formatLambert93(lon: number, lat: number, lang: Lang): string {
  const [x, y] = lambert93(lon, lat);
  const sep = lang === 'fr' ? ' ; ' : ', ';
  return `X ${formatNumber(x, 1, lang)} m${sep}Y ${formatNumber(y, 1, lang)} m`;
}
