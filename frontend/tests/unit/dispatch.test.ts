import { describe, expect, it } from 'vitest';
import { en } from '../../src/i18n/en';
import { fr } from '../../src/i18n/fr';
import {
  crewColour,
  jobTitle,
  legLine,
  nextAction,
  orderedJobs,
  reasonKey,
  routeLegs,
  statusKey,
  type Crew,
  type PlanRoute,
} from '../../src/dispatch/plan';

const crew: Crew = {
  id: 1,
  name: 'Équipe Voirie',
  skills: ['voirie'],
  capacity: 10,
  shift_start: '2026-11-26T07:00:00+00:00',
  shift_end: '2026-11-26T15:00:00+00:00',
  home: { lon: 7.42, lat: 43.73 },
  position: null,
  account: 'crew-1',
  active: true,
};

const stop = (sequence: number, lon: number) => ({
  sequence,
  job_id: 10 + sequence,
  eta: '',
  start_at: '',
  etd: '',
  wait_s: 0,
  priority: 3,
  required_skill: null,
  location: { lon, lat: 43.74 },
  started: false,
  description: '',
});

describe('plan routes', () => {
  it('go from the crew start through the stops in sequence and back home', () => {
    const route: PlanRoute = { crew_id: 1, crew: 'x', leave_at: '', return_at: '', travel_s: 0, distance_m: 0, stops: [stop(2, 7.43), stop(1, 7.425)] };
    expect(routeLegs(route, crew)).toEqual([
      [[7.42, 43.73], [7.425, 43.74]],
      [[7.425, 43.74], [7.43, 43.74]],
      [[7.43, 43.74], [7.42, 43.73]],
    ]);
    // A live position replaces the depot as the start.
    const moved = { ...crew, position: { lon: 7.41, lat: 43.72, updated_at: null } };
    expect(routeLegs(route, moved)[0][0]).toEqual([7.41, 43.72]);
    expect(routeLegs({ ...route, stops: [] }, crew)).toEqual([]);
    expect(routeLegs(route, undefined)).toHaveLength(1);
  });

  it('colours crews distinctly and cyclically', () => {
    expect(crewColour(0)).not.toBe(crewColour(1));
    expect(crewColour(8)).toBe(crewColour(0));
    expect(crewColour(-1)).toBe(crewColour(7));
  });

  it('names every reason and status in both languages', () => {
    for (const code of ['no_crew_with_skill', 'window_passed', 'demand_exceeds_capacity', 'window_outside_shifts', 'unreachable', 'too_far_for_shift', 'no_room']) {
      const key = reasonKey(code);
      expect(key).not.toBeNull();
      expect(fr[key!]).toBeTruthy();
      expect(en[key!]).toBeTruthy();
    }
    expect(reasonKey('future_reason')).toBeNull();
    expect(statusKey('started')).toBe('job.status.started');
    expect(statusKey('weird')).toBeNull();
    expect(statusKey(undefined)).toBeNull();
  });
});

describe('the crew page', () => {
  const body = {
    crew: crew,
    plan_id: 4,
    jobs: [
      { id: 8, sequence: 2, status: 'planned', description: 'Nid-de-poule' },
      { id: 7, sequence: 1, status: 'planned', description: '', required_skill: 'voirie' },
    ],
    next_leg: {
      type: 'Feature',
      geometry: { type: 'LineString', coordinates: [[7.42, 43.73], [7.421, 43.731], [7.425, 43.74]] },
      properties: { job_id: 7, geometry_kind: 'road', eta: null },
    },
  };

  it('orders jobs by the plan sequence and reads the next leg', () => {
    expect(orderedJobs(body).map((j) => j.id)).toEqual([7, 8]);
    expect(orderedJobs(null)).toEqual([]);
    expect(orderedJobs([{ id: 1 }])).toEqual([{ id: 1 }]);
    expect(legLine(body)).toHaveLength(3);
    expect(legLine({ ...body, next_leg: null })).toBeNull();
    expect(legLine({ jobs: [], next_leg: { type: 'Feature', geometry: { type: 'Point', coordinates: [0, 0] }, properties: {} } })).toBeNull();
  });

  it('offers start, then finish, for the current job', () => {
    expect(nextAction({ id: 1, status: 'planned' })).toBe('started');
    expect(nextAction({ id: 1, status: 'new' })).toBe('started');
    expect(nextAction({ id: 1, status: 'started' })).toBe('done');
    expect(nextAction({ id: 1, status: 'done' })).toBeNull();
    expect(nextAction(undefined)).toBeNull();
  });

  it('titles a job by its description, else its skill', () => {
    expect(jobTitle({ id: 8, description: ' Nid-de-poule ' }, 'Intervention 8')).toBe('Nid-de-poule');
    expect(jobTitle({ id: 7, description: '', required_skill: 'voirie' }, 'Intervention 7')).toBe('Intervention 7 · voirie');
    expect(jobTitle({ id: 6 }, 'Intervention 6')).toBe('Intervention 6');
  });
});
