"""Test stand-in of the ``rsl-rl-lib`` package (``rsl_rl``): only ``rsl_rl.runners.OnPolicyRunner``, no torch.

It shadows a real ``rsl_rl`` only inside the stand-in's own training processes (their ``train.py`` puts this
directory first on ``sys.path``); never import it from a test process.
"""

__version__ = "2.3.3+standin"
