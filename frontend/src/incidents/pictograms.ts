// Category pictograms of incidents, drawn in SVG (no icon font, no emoji: the console ships no font and
// the operators' machines may have no emoji font). 16×16 view box, one path each, filled with currentColor.
import type { Category } from './model';

export const PICTOGRAM_PATHS: Record<Category, string> = {
  // A drop.
  water: 'M8 1C8 1 3 7 3 10a5 5 0 0 0 10 0C13 7 8 1 8 1z',
  // Three wind strokes.
  air: 'M1 5h9a2 2 0 1 0-2-2h-1.5a3.5 3.5 0 1 1 3.5 3.5H1zM1 8.5h12a2 2 0 1 1-2 2H9.5a3.5 3.5 0 1 0 3.5-3.5H1zM1 12h6v1.5H1z',
  // A traffic cone.
  traffic: 'M6.5 1h3l3.5 12H3zM2 13.5h12V15H2z',
  // A light bulb.
  lighting: 'M8 1a5 5 0 0 0-3 9v2h6v-2a5 5 0 0 0-3-9zM5.5 13h5v1.2h-5zM6.5 14.8h3V16h-3z',
  // A lightning bolt.
  energy: 'M9.5 0L3 9h4l-1.5 7L13 6.5H9z',
  // A cloud.
  weather: 'M4.5 13a3.5 3.5 0 0 1-.3-7A4.5 4.5 0 0 1 12.8 7 3 3 0 0 1 12 13z',
  // A shield.
  security: 'M8 0l6 2.5v4.5c0 4-2.6 7.4-6 9-3.4-1.6-6-5-6-9V2.5z',
  // An exclamation mark in a circle.
  other: 'M8 0a8 8 0 1 0 0 16A8 8 0 0 0 8 0zM7 3h2v7H7zM7 11.5h2v2H7z',
};

export function pictogram(category: string, label: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const root = document.createElementNS(ns, 'svg');
  root.setAttribute('viewBox', '0 0 16 16');
  root.setAttribute('class', 'pictogram');
  root.setAttribute('role', 'img');
  root.setAttribute('aria-label', label);
  root.setAttribute('data-category', category);
  const title = document.createElementNS(ns, 'title');
  title.textContent = label;
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', PICTOGRAM_PATHS[category as Category] ?? PICTOGRAM_PATHS.other);
  path.setAttribute('fill', 'currentColor');
  path.setAttribute('fill-rule', 'evenodd');
  root.append(title, path);
  return root;
}
