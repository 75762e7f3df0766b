-- Crew dispatch: crews (shift, skills, depot, live position, login), jobs (place, window, skill, priority,
-- status), plans computed by routing/dispatch.py (input snapshot, result, solver) and their assignments (the
-- ordered stops with ETA/ETD each crew's mobile page reads). Every write is audited; changes to crews and
-- jobs are NOTIFYed on `dispatch_changed` for consoles and re-planning.

CREATE SCHEMA dispatch;

CREATE TABLE dispatch.crews (
    id                  bigserial PRIMARY KEY,
    territory_id        integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name                text NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 200),
    -- Free words (plomberie, electricite, voirie…); a job needing a skill goes to a crew listing it.
    skills              text[] NOT NULL DEFAULT '{}'
                        CHECK (array_position(skills, NULL) IS NULL AND cardinality(skills) <= 50),
    capacity            integer NOT NULL DEFAULT 0 CHECK (capacity >= 0),
    shift_start         timestamptz NOT NULL,
    shift_end           timestamptz NOT NULL,
    -- Where the crew starts and ends its shift (its depot).
    home                geometry(Point, 4326) NOT NULL,
    -- Last known position (mobile page, AVL); planning starts from it while it is fresh.
    position            geometry(Point, 4326),
    position_updated_at timestamptz,
    -- The account the crew signs in with (role crew): GET /api/dispatch/my-jobs finds the crew through it.
    account_id          bigint UNIQUE REFERENCES auth.accounts ON DELETE SET NULL,
    active              boolean NOT NULL DEFAULT true,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (shift_end > shift_start),
    CHECK ((position IS NULL) = (position_updated_at IS NULL)),
    UNIQUE (territory_id, name)
);
COMMENT ON TABLE dispatch.crews IS 'Field crews: one vehicle each, its shift, skills, capacity and depot.';
CREATE INDEX crews_territory_idx ON dispatch.crews (territory_id);

CREATE TABLE dispatch.jobs (
    id              bigserial PRIMARY KEY,
    territory_id    integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    location        geometry(Point, 4326) NOT NULL,
    duration_s      integer NOT NULL CHECK (duration_s BETWEEN 0 AND 86400),
    required_skill  text CHECK (required_skill IS NULL OR length(trim(required_skill)) BETWEEN 1 AND 100),
    -- Service must start within [window_start, window_end].
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    priority        smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),  -- 5 = urgent
    demand          integer NOT NULL DEFAULT 0 CHECK (demand >= 0),
    status          text NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'planned', 'started', 'done', 'cancelled')),
    -- The crew of the applied plan (planned) or the crew working on it (started, done).
    crew_id         bigint REFERENCES dispatch.crews ON DELETE SET NULL,
    started_at      timestamptz,
    incident_id     text CHECK (incident_id IS NULL OR length(incident_id) <= 200),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (window_end >= window_start),
    CHECK (status <> 'started' OR (crew_id IS NOT NULL AND started_at IS NOT NULL))
);
COMMENT ON TABLE dispatch.jobs IS 'Interventions to dispatch; priority 5 is urgent (served first).';
CREATE INDEX jobs_territory_status_idx ON dispatch.jobs (territory_id, status);
CREATE INDEX jobs_location_idx ON dispatch.jobs USING gist (location);
-- A crew works on one job at a time: the re-planner keeps it as the crew's fixed first stop.
CREATE UNIQUE INDEX jobs_one_started_per_crew ON dispatch.jobs (crew_id) WHERE status = 'started';

CREATE TABLE dispatch.plans (
    id              bigserial PRIMARY KEY,
    territory_id    integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    kind            text NOT NULL DEFAULT 'plan' CHECK (kind IN ('plan', 'replan')),
    replaces        bigint REFERENCES dispatch.plans ON DELETE SET NULL,
    -- The epoch of the plan: every time in `input` and `result` counts seconds from it.
    planned_at      timestamptz NOT NULL,
    solver          text NOT NULL,
    time_budget_s   real NOT NULL CHECK (time_budget_s > 0 AND time_budget_s <= 30),
    objective       bigint NOT NULL,  -- total travel time of the plan, seconds
    -- Crews, jobs and where the travel-time matrix came from (closures applied), as the solver saw them.
    input           jsonb NOT NULL,
    result          jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('proposed', 'active', 'superseded'))
);
COMMENT ON TABLE dispatch.plans IS 'Computed plans; the latest active one per territory is what crews follow.';
CREATE UNIQUE INDEX plans_one_active_per_territory ON dispatch.plans (territory_id) WHERE status = 'active';

CREATE TABLE dispatch.assignments (
    id          bigserial PRIMARY KEY,
    plan_id     bigint NOT NULL REFERENCES dispatch.plans ON DELETE CASCADE,
    crew_id     bigint NOT NULL REFERENCES dispatch.crews ON DELETE CASCADE,
    job_id      bigint NOT NULL REFERENCES dispatch.jobs ON DELETE CASCADE,
    sequence    integer NOT NULL CHECK (sequence >= 1),
    eta         timestamptz NOT NULL,
    start_at    timestamptz NOT NULL,
    etd         timestamptz NOT NULL,
    CHECK (eta <= start_at AND start_at <= etd),
    UNIQUE (plan_id, job_id),
    UNIQUE (plan_id, crew_id, sequence)
);
COMMENT ON TABLE dispatch.assignments IS 'Ordered stops of each crew in a plan, with arrival, start and departure.';
CREATE INDEX assignments_crew_idx ON dispatch.assignments (crew_id, plan_id);

SELECT audit.audit_table('dispatch.crews');
SELECT audit.audit_table('dispatch.jobs');
SELECT audit.audit_table('dispatch.plans');
SELECT audit.audit_table('dispatch.assignments');

-- One notification per statement, after commit, naming the table and the operation: consoles refresh, and a
-- re-planner can react to an urgent job or a crew going off shift.
CREATE FUNCTION dispatch.notify_change() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('dispatch_changed', json_build_object('table', TG_TABLE_NAME, 'op', TG_OP)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER crews_notify AFTER INSERT OR UPDATE OR DELETE ON dispatch.crews
    FOR EACH STATEMENT EXECUTE FUNCTION dispatch.notify_change();
CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OR DELETE ON dispatch.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION dispatch.notify_change();
