"""Learned selectors (PyTorch, the ``alselect[torch]`` extra): CDAL-RL, DAAL and VAAL on features.

``policy`` trains the CDAL-RL Bi-LSTM policy with REINFORCE; ``daal`` the dual adversarial
network; ``vaal`` VAAL on pool embeddings. ``nets`` and ``losses`` are the building blocks DAAL
and VAAL share; ``runtime`` handles devices and seeding. Every module here imports torch, so
only the strategy adapters (``alselect.strategies.learned``) import them, after checking that
the extra is installed. docs/learned.md has the algorithms and every choice they make.
"""
