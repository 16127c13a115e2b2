"""Plotting helpers shared by the reports (matplotlib, the optional ``[plot]`` extra).

Nothing in the selection engine imports this package; the commands that write reports import it
inside the command, and a missing matplotlib is one error naming ``pip install 'alselect[plot]'``.
"""

from .figures import class_histogram, learning_curves, load_pyplot

__all__ = ["class_histogram", "learning_curves", "load_pyplot"]
