"""``alselect simulate``: active-learning cycles on frozen features with known labels, to decide
which strategy to use at a given budget before spending it (docs/simulate.md).

- :mod:`.models`: the classifier retrained each cycle, its bootstrap ensemble and per-iteration predictions;
- :mod:`.loop`: the cycles of one (strategy, seed) cell and the resumable grid over all cells;
- :mod:`.summary`: learning curves, paired differences to random, win/tie/loss, the low-budget guard;
- :mod:`.report`: the ``--report`` directory (plots from :mod:`alselect.plot`, an HTML page).
"""
