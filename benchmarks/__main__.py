"""Run every benchmark: ``python -m benchmarks`` (``make bench``)."""

from __future__ import annotations

from benchmarks import (
    bench_audit,
    bench_dispatch,
    bench_middleware,
    bench_ogc_items,
    bench_routing,
    bench_simulation,
    bench_tiles,
)


def main() -> None:
    bench_ogc_items.main()
    bench_middleware.main()
    bench_audit.main()
    bench_routing.main()
    bench_dispatch.main([])
    bench_tiles.main()
    bench_simulation.main([])


if __name__ == "__main__":
    main()
