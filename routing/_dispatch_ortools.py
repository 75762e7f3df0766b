"""OR-Tools adapter: the routing library's guided local search on the same problem as PyVRP's."""

from __future__ import annotations

from routing._dispatch_model import UNREACHABLE_S, Sequences, SolverInput
from routing._dispatch_solvers import DispatchSolver, _places, _sub_matrix, crew_cost_columns, eligible


class ORToolsSolver(DispatchSolver):
    """Skills as allowed vehicles, prizes as disjunction penalties, one cost matrix per crew."""

    name = "ortools"

    def solve(self, problem: SolverInput, *, time_limit_s: float, seed: int = 0) -> Sequences:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2

        if not problem.jobs:
            return {}
        nodes, depots = _places(problem)
        base = _sub_matrix(problem, nodes)
        first_job = len(depots)
        crews = problem.instance.crews
        manager = pywrapcp.RoutingIndexManager(
            len(nodes),
            len(crews),
            [depots[problem.crew_start[c.id]] for c in crews],
            [depots[c.end] for c in crews],
        )
        routing = pywrapcp.RoutingModel(manager)
        service = [0] * first_job + [j.duration_s for j in problem.jobs]
        # Transit of the time dimension: service at the place left plus travel, as OR-Tools' VRPTW examples do.
        time_matrix = [
            [int(min(service[i] + base[i, j], UNREACHABLE_S)) for j in range(len(nodes))]
            for i in range(len(nodes))
        ]
        time_cb = routing.RegisterTransitMatrix(time_matrix)
        cost_cbs: dict[bytes, int] = {}
        for v, crew in enumerate(crews):
            cost = crew_cost_columns(problem, crew, base, first_job)
            key = cost.tobytes()
            if key not in cost_cbs:
                cost_cbs[key] = routing.RegisterTransitMatrix(cost.tolist())
            routing.SetArcCostEvaluatorOfVehicle(cost_cbs[key], v)
        horizon = max([c.shift_end_s for c in crews] + [problem.deadline_s[j.id] for j in problem.jobs]) + 1
        routing.AddDimension(time_cb, horizon, horizon, False, "time")
        time_dim = routing.GetDimensionOrDie("time")
        demand_cb = routing.RegisterUnaryTransitVector([0] * first_job + [j.demand for j in problem.jobs])
        routing.AddDimensionWithVehicleCapacity(
            demand_cb, 0, [max(0, problem.crew_capacity_left[c.id]) for c in crews], True, "load"
        )
        for v, crew in enumerate(crews):
            time_dim.CumulVar(routing.Start(v)).SetRange(
                problem.crew_ready_s[crew.id], max(problem.crew_ready_s[crew.id], crew.shift_end_s)
            )
            time_dim.CumulVar(routing.End(v)).SetRange(
                problem.crew_ready_s[crew.id], max(problem.crew_ready_s[crew.id], crew.shift_end_s)
            )
        for k, job in enumerate(problem.jobs):
            index = manager.NodeToIndex(first_job + k)
            early = max(0, job.tw_start_s)
            time_dim.CumulVar(index).SetRange(early, max(early, problem.deadline_s[job.id]))
            allowed = [v for v, c in enumerate(crews) if eligible(c, job)]
            routing.VehicleVar(index).SetValues([-1, *allowed])
            routing.AddDisjunction([index], problem.prize[job.id])
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
        solution = routing.SolveWithParameters(params)
        out: Sequences = {}
        if solution is None:
            return out
        for v, crew in enumerate(crews):
            index = solution.Value(routing.NextVar(routing.Start(v)))
            seq = []
            while not routing.IsEnd(index):
                seq.append(problem.jobs[manager.IndexToNode(index) - first_job].id)
                index = solution.Value(routing.NextVar(index))
            if seq:
                out[crew.id] = seq
        return out
