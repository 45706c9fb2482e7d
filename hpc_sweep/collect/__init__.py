"""Reading artefacts: run discovery, TensorBoard event records, RSL-RL console text, summaries.txt -> tidy table.

Kept import-free on purpose: the job wrapper imports ``hpc_sweep.collect.textlog`` and must not pay for pandas.
"""
