// Shapes of /api/dispatch answers and pure helpers of the crews panel and the crew page: each crew's legs
// (start → stops in order → home), colours, reason and status labels. No DOM: unit-tested.
import type { MessageKey } from '../i18n';
import type { LonLat } from '../routing/format';

export interface Place {
  lon: number;
  lat: number;
}

export interface Crew {
  id: number;
  name: string;
  skills: string[];
  capacity: number;
  shift_start: string;
  shift_end: string;
  home: Place;
  position: (Place & { updated_at: string | null }) | null;
  account: string | null;
  active: boolean;
}

export interface Stop {
  sequence: number;
  job_id: number;
  eta: string;
  start_at: string;
  etd: string;
  wait_s: number;
  priority: number;
  required_skill: string | null;
  location: Place;
  started: boolean;
  description: string;
}

export interface PlanRoute {
  crew_id: number;
  crew: string;
  leave_at: string;
  return_at: string;
  travel_s: number;
  distance_m: number;
  stops: Stop[];
}

export interface Unassigned {
  job_id: number;
  reason: string;
  message: string;
}

export interface Kpis {
  jobs: number;
  assigned: number;
  unassigned: number;
  urgent_assigned: number;
  urgent_jobs: number;
  crews: number;
  crews_used: number;
  travel_s: number;
  distance_m: number;
  wait_s: number;
  makespan_s: number;
}

export interface Plan {
  id: number;
  status: string;
  planned_at: string;
  solver: string;
  solve_time_s: number;
  routes: PlanRoute[];
  unassigned: Unassigned[];
  kpis: Kpis;
}

/** A job of GET /api/dispatch/my-jobs (job_json plus the plan's times). */
export interface MyJob {
  id: number;
  sequence?: number;
  eta?: string | null;
  start_at?: string | null;
  location?: Place;
  duration_s?: number;
  required_skill?: string | null;
  window_start?: string | null;
  window_end?: string | null;
  priority?: number;
  status?: string;
  description?: string;
  incident_id?: string | null;
}

export interface NextLeg {
  type: 'Feature';
  geometry: { type: 'LineString'; coordinates: LonLat[] } | { type: string; coordinates: unknown };
  properties: { job_id: number; geometry_kind: 'road' | 'straight_line'; eta: string | null };
}

export interface MyJobs {
  crew?: Crew;
  plan_id?: number | null;
  jobs: MyJob[];
  next_leg: NextLeg | null;
}

export const lonLatOf = (p: Place): LonLat => [p.lon, p.lat];

/** Where a crew starts: its live position when known, else its depot. */
export function crewStart(crew: Crew): LonLat {
  return lonLatOf(crew.position ?? crew.home);
}

/** A crew's way in a plan as legs: start → each stop in sequence → home (what the map draws). */
export function routeLegs(route: PlanRoute, crew: Crew | undefined): [LonLat, LonLat][] {
  const stops = [...route.stops].sort((a, b) => a.sequence - b.sequence).map((s) => lonLatOf(s.location));
  if (!stops.length) return [];
  const points: LonLat[] = [];
  if (crew) points.push(crewStart(crew));
  points.push(...stops);
  if (crew) points.push(lonLatOf(crew.home));
  const legs: [LonLat, LonLat][] = [];
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    if (a[0] !== b[0] || a[1] !== b[1]) legs.push([a, b]);
  }
  return legs;
}

/** Distinct colours for crews (readable on the map; the list repeats them beside each name). */
export const CREW_COLOURS = ['#b3261e', '#0a58a8', '#1a6b2c', '#8a4f00', '#6b2fa3', '#00696b', '#a3135b', '#4a5560'];

export function crewColour(index: number): string {
  return CREW_COLOURS[((index % CREW_COLOURS.length) + CREW_COLOURS.length) % CREW_COLOURS.length];
}

const REASONS = [
  'no_crew_with_skill',
  'window_passed',
  'demand_exceeds_capacity',
  'window_outside_shifts',
  'unreachable',
  'too_far_for_shift',
  'no_room',
] as const;

/** The i18n key of an unassigned job's reason code (unknown codes: the server's sentence is shown). */
export function reasonKey(code: string): MessageKey | null {
  return (REASONS as readonly string[]).includes(code) ? (`dispatch.reason.${code}` as MessageKey) : null;
}

const STATUSES = ['new', 'planned', 'started', 'done', 'cancelled'] as const;

export function statusKey(status: string | undefined): MessageKey | null {
  return status && (STATUSES as readonly string[]).includes(status) ? (`job.status.${status}` as MessageKey) : null;
}

/** What the crew can do now with its current job: start it, finish it, or nothing. */
export function nextAction(job: MyJob | undefined): 'started' | 'done' | null {
  if (!job) return null;
  if (job.status === 'new' || job.status === 'planned') return 'started';
  if (job.status === 'started') return 'done';
  return null;
}

/** A job's title on the crew page: its description, else its skill, else "Intervention 12". */
export function jobTitle(job: MyJob, fallback: string): string {
  const text = job.description?.trim();
  if (text) return text;
  return job.required_skill ? `${fallback} · ${job.required_skill}` : fallback;
}

/** The jobs of GET /api/dispatch/my-jobs in the order to do them (the plan's sequence). */
export function orderedJobs(body: unknown): MyJob[] {
  const jobs = body && typeof body === 'object' && Array.isArray((body as MyJobs).jobs) ? (body as MyJobs).jobs : Array.isArray(body) ? (body as MyJob[]) : [];
  return [...jobs].sort((a, b) => (a.sequence ?? 0) - (b.sequence ?? 0));
}

/** The next leg's line, or null when the answer has none (no job, or not a LineString). */
export function legLine(body: unknown): LonLat[] | null {
  const leg = body && typeof body === 'object' ? (body as MyJobs).next_leg : null;
  if (!leg || leg.geometry?.type !== 'LineString') return null;
  const coords = leg.geometry.coordinates as LonLat[];
  return Array.isArray(coords) && coords.length >= 2 ? coords : null;
}
