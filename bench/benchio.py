"""What the Python benchmarks share (bench/ddp_scale.py, bench/feature_cache.py):
the load average around a run, which says how shared the machine was, and the
--json result file."""
import json
import os


def load_average_after(res: dict) -> str:
    """Stores the load average now as res["load_average_after"] and returns
    "before -> after" (res["load_average_before"], taken at the start)."""
    res["load_average_after"] = os.getloadavg()
    return "%s -> %s" % tuple(" ".join("%.1f" % x for x in res[k])
                              for k in ("load_average_before", "load_average_after"))


def write_json(path, res: dict) -> None:
    """res as indented JSON at path (its directory made), nothing when path is empty."""
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
