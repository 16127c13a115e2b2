"""Start-up: `alselect pick` on the bundled pool, end to end, beside `python -c "import numpy, h5py"`.

Both commands run as fresh processes, alternately, REPEAT times after one warm-up run each
(the page cache and the compilation cache are then warm, as for any run after the first);
the report gives the median wall time and the median CPU time (user + system) of each and
their ratio. The target is alselect within 2x of the bare imports.

    python bench/bench_startup.py [--repeat 9] [--load [N]] [--json]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys

from benchkit import Report, add_common_options, timed_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POOL = os.path.join(ROOT, "sample_data", "digits.h5")


def alselect_command() -> list[str]:
    """The console script installed beside this interpreter, else ``python -m alselect``."""
    script = shutil.which("alselect", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "alselect"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    add_common_options(ap)
    args = ap.parse_args()
    rep = Report("startup", args)
    pick = alselect_command() + ["pick", POOL, "-s", "entropy", "-b", "20"]
    bare = [sys.executable, "-c", "import numpy, h5py"]
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    with rep.competing_load():
        timed_child(pick, **quiet)
        timed_child(bare, **quiet)
        runs = {"pick": [], "bare": []}
        for _ in range(args.repeat):
            runs["pick"].append(timed_child(pick, **quiet)[1])
            runs["bare"].append(timed_child(bare, **quiet)[1])
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}
    rep.say(f"{'command':<58}{'wall s':>8}{'CPU s':>8}")
    pick_name = "alselect pick sample_data/digits.h5 -s entropy -b 20"
    rep.say(f"{pick_name:<58}{med['pick'][0]:>8.3f}{med['pick'][1]:>8.3f}")
    bare_name = 'python -c "import numpy, h5py"'
    rep.say(f"{bare_name:<58}{med['bare'][0]:>8.3f}{med['bare'][1]:>8.3f}")
    rep.say(f"ratio (alselect / bare imports): wall {med['pick'][0] / med['bare'][0]:.2f}x, "
            f"CPU {med['pick'][1] / med['bare'][1]:.2f}x  (median of {args.repeat} alternating runs; target <= 2x)")
    rep.row("`pick sample_data/digits.h5 -s entropy -b 20`, end to end (`bench_startup.py`)",
            f"median of {args.repeat} alternating runs", med["pick"], med["bare"],
            "`python -c \"import numpy, h5py\"`", ratio_kind="overhead")


if __name__ == "__main__":
    main()
