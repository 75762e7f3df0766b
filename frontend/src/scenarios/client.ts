// The /api/simulation calls of the scenarios panel (same origin, session cookie: see core/api.ts).
import { api } from '../core/api';
import type { Measure, Run, Scenario, ScenarioEvent } from './model';

const BASE = '/api/simulation';

export type FeatureCollection = GeoJSON.FeatureCollection<GeoJSON.Geometry | null, Record<string, unknown>>;

export interface RunLayers {
  affected: FeatureCollection;
  h3: FeatureCollection;
  closed_roads: FeatureCollection;
  isolated_areas: FeatureCollection;
  events: FeatureCollection;
}

export interface Report {
  summary?: { fr: string; en: string };
  residents_hit?: number;
  critical_sites_hit?: { id: number; name: string | null; kind: string; causes: string[] }[];
  affected?: {
    layer: string;
    id: number;
    name: string | null;
    kind: string;
    residents: number;
    causes: string[];
    since_s: number;
    reasons: { cause: string; fr: string; en: string }[];
    lon?: number;
    lat?: number;
  }[];
  recommended_actions?: ({ kind: string; fr: string; en: string } & Record<string, unknown>)[];
  timeline?: ({ at_s: number; fr: string; en: string } & Record<string, unknown>)[] | null;
  baseline?: { summary?: { fr: string; en: string } } & Record<string, unknown>;
}

export function listScenarios(territory: string): Promise<{ scenarios: Scenario[] }> {
  return api(`${BASE}/scenarios?${new URLSearchParams({ territory })}`);
}

export function getScenario(id: number): Promise<Scenario> {
  return api(`${BASE}/scenarios/${id}`);
}

export function createScenario(body: { territory: string; name: string; description?: string }): Promise<Scenario> {
  return api(`${BASE}/scenarios`, { method: 'POST', body });
}

export function patchScenario(
  id: number,
  body: { version: number; name?: string; description?: string; events?: ScenarioEvent[]; measures?: Measure[] },
): Promise<Scenario> {
  return api(`${BASE}/scenarios/${id}`, { method: 'PATCH', body });
}

export function deleteScenario(id: number): Promise<void> {
  return api(`${BASE}/scenarios/${id}`, { method: 'DELETE' });
}

export function startRun(scenarioId: number): Promise<Run> {
  return api(`${BASE}/scenarios/${scenarioId}/runs`, { method: 'POST' });
}

export function getRun(runId: number): Promise<Run> {
  return api(`${BASE}/runs/${runId}`);
}

export function cancelRun(runId: number): Promise<Run> {
  return api(`${BASE}/runs/${runId}/cancel`, { method: 'POST' });
}

export function runReport(runId: number): Promise<Report> {
  return api(`${BASE}/runs/${runId}/report`);
}

export function runLayers(runId: number): Promise<RunLayers> {
  return api(`${BASE}/runs/${runId}/layers`);
}
