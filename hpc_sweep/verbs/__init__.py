"""One module per verb of ``hpc-sweep``, each a straight path through the layers: ``submit`` (and ``resubmit``),
``status``, ``collect``, ``compare``, ``cancel``. ``cli`` parses flags and calls these."""
