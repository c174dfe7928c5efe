"""The build server: a resident ``dlm`` process that answers ``dlm build`` without paying for a
fresh interpreter, imports, the base's tokenizer or unpickling the file-state cache each time.

Bazel and Gradle work the same way. ``dlm server start`` starts one per ``$DLM_HOME``; while it
runs, ``dlm build`` hands its arguments, working folder and environment to it over a Unix
socket and prints what comes back. Anything the server cannot vouch for (another Python,
another environment, dlm's code changed since it started, or it is busy) makes the client build
in its own process instead, exactly as without a server. Nothing is kept in the server that is
not validated again on each build: its caches are keyed by content hashes or stat signatures.
"""
