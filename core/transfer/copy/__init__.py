"""The cross-engine copy in pieces: report, reflect (the source), typemap and schema (the target), convert
(values), writers (bulk paths). The use case is :mod:`..crossengine`."""
