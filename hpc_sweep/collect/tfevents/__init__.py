"""Reading TensorBoard event files exactly and fast: every scalar point, every record's CRC32C checked.

Why not tensorboard's ``EventAccumulator``: it keeps only 10,000 points per tag by default (reservoir sampling) and
builds a protobuf object per record, about 100x slower than the bytes allow. This package reads every point of every
scalar tag, both ``simple_value`` summaries (PyTorch ``SummaryWriter``, RSL-RL) and tensor-typed scalars
(``add_scalar(..., new_style=True)``, TF2 ``tf.summary.scalar``), in pure Python + numpy.

An event file is a sequence of TFRecords: ``uint64 length``, ``uint32 masked crc32c(length)``, ``data``,
``uint32 masked crc32c(data)``; the data are ``Event`` protobufs. How the speed is reached, exactly:

* Framing (:mod:`.framing`): record headers are found with numpy (a length below 2**24 leaves a run of zero bytes),
  checked against their CRC and chained (each record must start where the one before ends); wherever the chain breaks
  (a header not found, a damaged or truncated record) a plain sequential walk takes over, so the records found are
  exactly those a sequential reader visits.
* Decoding (:mod:`.templates`, :mod:`.decode`): records of one byte length whose structural bytes (field keys,
  lengths, tag) equal a reference record share a *template*, found by parsing the reference record's wire format in
  Python; every record of a template is decoded at once with numpy (wall time, step varint, value). Anything else
  (several values in one event, histograms, images, unusual encodings) goes through tensorboard's own protobuf
  classes.
* CRC (:mod:`.crc`): each template's reference record, every header length and every record off the fast path are
  checked with the C-accelerated ``crc32c`` package. Records decoded by a template are checked through CRC-32C's
  linearity: ``crc(x) = crc(ref) ^ crc0(x ^ ref)`` for records of equal length, where ``x ^ ref`` is non-zero only in
  the bytes that may vary (wall time, step, value), evaluated with numpy table look-ups. That is the exact CRC of
  every record, not a sample or a checksum of checksums.

A record that fails its CRC ends the file with a warning (everything before it is kept); a truncated last record (a
job killed mid-write) likewise; a foreign, empty or unreadable file gives a warning and no data, never an exception.
NaN and inf values are kept. Imports only numpy, the standard library, ``crc32c`` and (lazily) tensorboard's protos.

Modules, bottom up: :mod:`.templates` (wire format, templates), :mod:`.crc`, :mod:`.framing`, :mod:`.decode`, and
:mod:`.reader` (the public API re-exported here; reading many runs in parallel is
:func:`hpc_sweep.collect.results.read_runs`).
"""

from hpc_sweep.collect.tfevents.reader import (
    EVENT_PREFIX,
    EventReadResult,
    ScalarSeries,
    iter_event_files,
    read_event_file,
    read_event_files,
)

__all__ = ["EVENT_PREFIX", "EventReadResult", "ScalarSeries", "iter_event_files", "read_event_file", "read_event_files"]
