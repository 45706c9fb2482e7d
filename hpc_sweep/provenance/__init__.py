"""Provenance of a sweep: which code, Python packages and container image its runs were submitted with.

Captured once at submit (:mod:`hpc_sweep.provenance.capture`) into ``<sweep>/provenance/`` and summarised in
``sweep.json`` (``provenance``) and ``training_results.json`` (``metadata.provenance``); each attempt of a run records
the commit its code dirs are at when it starts (:mod:`hpc_sweep.provenance.attempt`), so that a requeue or
resubmit that ran other code than was submitted is flagged in ``status`` and in the results.

Nothing here may fail a submit or a job: git missing, a dir that is not a repository, a Python that cannot be run or
an image that is not there are recorded as notes. This package file imports nothing, so that the job wrapper, which
imports :mod:`hpc_sweep.provenance.attempt` on every compute node, pays only for what it uses.
"""
