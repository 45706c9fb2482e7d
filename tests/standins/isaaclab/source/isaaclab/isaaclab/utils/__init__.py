"""Stand-in of ``isaaclab.utils``: only ``io`` (``dump_yaml``, ``dump_pickle``)."""
