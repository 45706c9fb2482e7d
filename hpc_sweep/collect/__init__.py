"""Reading artefacts: run discovery, TensorBoard event records, console and summaries fallbacks -> tidy tables.

The collector reads; it never asks a scheduler: a sweep's run states come in from its launcher (``verbs/collect``).
"""
