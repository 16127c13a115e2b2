"""Learned selectors (PyTorch, the ``alselect[torch]`` extra): CDAL-RL, DAAL and VAAL on features.

``policy`` trains the CDAL-RL Bi-LSTM policy with REINFORCE on the episode reward of ``reward``;
``daal`` trains the dual adversarial network; ``vaal`` VAAL on pool embeddings. ``nets``,
``losses`` and ``batches`` are the building blocks DAAL and VAAL share; ``runtime`` handles
devices, threads and seeding. Every module but ``reward`` imports torch, so
only the strategy adapters (``alselect.strategies.learned``) import them, after checking that
the extra is installed. docs/learned.md has the algorithms and every choice they make.
"""
