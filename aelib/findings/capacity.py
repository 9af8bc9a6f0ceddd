"""Findings on objective against architecture: the objective families on fcae's backbone against fcae (from the
declared comparisons of reconstruction), and the architectures trained again at fcae's parameter count
(``summary/architectures_matched_by_z.csv``): is an architecture's place in the ranking its design or its size?"""
from __future__ import annotations

import pandas as pd

from aelib.families import OBJECTIVE_FAMILIES
from aelib.findings.wording import fmt_num, name_list

MATCHED_REQUIRED = ("family", "latent_dim", "n_seeds", "rmse_matched", "fcae_rmse", "seeds_below_fcae", "params")


def objectives_finding(comparisons: pd.DataFrame | None) -> str:
    """One line per z: which objective families reconstruct detectably better or worse than fcae on the shared
    backbone (declared comparisons), and which are not distinguishable from it."""
    if comparisons is None or comparisons.empty or "criterion" not in comparisons:
        return ("**Objectives on one backbone**: cannot say: no declared comparisons (`summary/comparisons.csv`) "
                "were written.\n")
    rows = comparisons[(comparisons["criterion"] == "reconstruction") & (comparisons["reference"] == "fcae")
                       & comparisons["family"].isin(OBJECTIVE_FAMILIES)]
    if rows.empty:
        return "**Objectives on one backbone**: no objective family was compared with fcae on reconstruction.\n"
    lines = []
    for z, part in rows.groupby("latent_dim", sort=True):
        said = [f"detectably {d} than fcae: " + name_list(list(part[part["decision"] == d]["family"]))
                for d in ("better", "worse") if (part["decision"] == d).any()]
        rest = part[~part["decision"].isin(["better", "worse"])]
        if not rest.empty:
            said.append("not distinguishable from fcae: " + name_list(list(rest["family"])))
        lines.append(f"- z = {int(z)}: " + "; ".join(said) + ".")
    return ("**Objectives on one backbone** (test RMSE; each objective family against fcae, which has the same "
            "encoder and decoder and no regulariser, `summary/comparisons.csv`): a difference here is one of "
            "objective, not of size.\n\n" + "\n".join(lines) + "\n")


def matched_finding(matched: pd.DataFrame | None) -> str:
    """Per architecture: its test RMSE at fcae's parameter count against fcae's, seed by seed, beside its RMSE
    at its native size."""
    if matched is None or matched.empty or not set(MATCHED_REQUIRED) <= set(matched):
        return ("**Architectures at matched capacity**: not run (step 02's `matched` parameter names the "
                "architectures to train at fcae's parameter count).\n")
    lines = []
    for family, part in matched.groupby("family", sort=False):
        cells = []
        for r in part.sort_values("latent_dim").itertuples():
            native = getattr(r, "rmse_native", float("nan"))
            cells.append(f"z = {int(r.latent_dim)}: {fmt_num(r.rmse_matched)} against fcae's {fmt_num(r.fcae_rmse)} "
                         f"(below fcae in {int(r.seeds_below_fcae)} of {int(r.n_seeds)} seeds"
                         + (f"; native size {fmt_num(native)}" if pd.notna(native) else "") + ")")
        always = (part["seeds_below_fcae"] == part["n_seeds"]).all()
        never = (part["seeds_below_fcae"] == 0).all()
        runs = int(part["n_seeds"].sum())
        if part["n_seeds"].max() < 2:  # one run per z: an observation, not tested against seed noise
            verdict = (f"{'below' if always else 'not below' if never else 'mixed against'} fcae at the same size in "
                       f"the {runs} run{'s' if runs != 1 else ''} made (one seed per z: not tested against seed noise)")
        else:
            verdict = ("below fcae at every z and seed at the same size: its lead is its design, not its size"
                       if always else "never below fcae at the same size: what it gains at its native size is size, "
                       "not design" if never else "mixed: below fcae in some cells only")
        lines.append(f"- {family} — {verdict}. " + "; ".join(cells) + ".")
    return ("**Architectures at matched capacity** (`summary/architectures_matched_by_z.csv`; each trained again "
            "with its width chosen so that its parameter count is fcae's at each z):\n\n" + "\n".join(lines) + "\n")
