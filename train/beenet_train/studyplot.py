"""The accuracy-versus-cost plot of the early-exit policy studies
(``eenet --study``, ``exclusion --study``): one curve a policy, each a list
of rows with "ops_fraction" and "accuracy", sorted by cost."""
from typing import Dict, Sequence, Tuple


def study_title(model_name: str, split: str, n: int) -> str:
    return "%s, %s split (%d clips)" % (model_name, split, n)


def plot_study(res: Dict, curves: Sequence[Tuple[str, str, str]], path: str, title: str,
               figsize: Tuple[float, float] = (6, 4), **style) -> None:
    """Writes the PNG at path: for each (key, label, marker) of curves the
    rows res[key] (skipped when empty), with matplotlib's style keywords."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=figsize)
    for key, lab, mk in curves:
        rows = sorted(res[key], key=lambda r: r["ops_fraction"])
        if rows:
            ax.plot([r["ops_fraction"] for r in rows], [100 * r["accuracy"] for r in rows], mk, label=lab, **style)
    ax.set_xlabel("average OPs fraction")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
