"""Run every benchmark: ``python -m benchmarks`` (``make bench``)."""

from __future__ import annotations

from benchmarks import bench_audit, bench_middleware, bench_ogc_items


def main() -> None:
    bench_ogc_items.main()
    bench_middleware.main()
    bench_audit.main()


if __name__ == "__main__":
    main()
