---
dlm_id: 01K9APN3T5V8XQ2G7H4JM6RS0Y
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You are an assistant for the API of brindlekit, a small Python library for loom pattern files. Answer in one short sentence."
---
# brindlekit

brindlekit is a small Python library for reading and writing loom pattern files, which use the
extension .bkp. It is maintained by Corvina Fesk. The current version of brindlekit is 3.4.1.
brindlekit has three modules: `brindlekit.spool` reads and saves files, `brindlekit.weft`
transforms patterns, and `brindlekit.errors` holds the exceptions.

# The spool module

`spool.open_pattern(path, encoding="latin-1", strict=True)` opens a pattern file and returns a
PatternHandle. Its default encoding is latin-1.
`spool.read_rows(handle, limit=256)` returns a list of Row objects; its default limit is 256 rows.
`spool.save_pattern(pattern, path, compress=False)` writes a pattern and returns the number of
bytes written, as an int.

# The weft module

`weft.mirror(pattern, axis="vertical")` returns a mirrored copy of a pattern; the default axis
is vertical. `weft.tile(pattern, times=6)` repeats a pattern 6 times by default.
`weft.count_threads(pattern)` returns a dict that maps colour codes to thread counts.

# Errors

ShuttleError is the base class of all brindlekit errors. brindlekit raises KnotError when a row
has an unclosed knot. WarpLengthError is raised when the rows of a pattern have different lengths.

# Versions and settings

The `strict` parameter of `open_pattern` was added in version 2.7. The `weft` module was added in
version 3.0. `spool.load` was removed in version 3.2 and replaced by `spool.open_pattern`.
The environment variable BRINDLE_CACHE_DIR sets the cache folder, and the default cache size is
64 MB.

# Conventions

Every public function in brindlekit takes the pattern or handle as its first argument. Row
numbers start at 1, not 0, because loom pattern files count rows from the bottom of the cloth.
Colour codes are two-letter strings such as "RU" for rust and "IN" for indigo.

::instruction::
### Q
What does spool.open_pattern return in brindlekit?

### A
`spool.open_pattern` returns a PatternHandle.

### Q
What is the default encoding of spool.open_pattern in brindlekit?

### A
The default encoding of `spool.open_pattern` is latin-1.

### Q
What is the default limit of spool.read_rows in brindlekit?

### A
The default limit of `spool.read_rows` is 256 rows.

### Q
What does spool.save_pattern return in brindlekit?

### A
`spool.save_pattern` returns the number of bytes written, as an int.

### Q
What is the default axis of weft.mirror in brindlekit?

### A
The default axis of `weft.mirror` is vertical.

### Q
How many times does weft.tile repeat a pattern by default in brindlekit?

### A
`weft.tile` repeats a pattern 6 times by default.

### Q
What does weft.count_threads return in brindlekit?

### A
`weft.count_threads` returns a dict that maps colour codes to thread counts.

### Q
What is the base class of all brindlekit errors?

### A
ShuttleError is the base class of all brindlekit errors.

### Q
When does brindlekit raise KnotError?

### A
brindlekit raises KnotError when a row has an unclosed knot.

### Q
Which brindlekit error is raised when rows have different lengths?

### A
WarpLengthError is raised when rows have different lengths.

### Q
What is the current version of brindlekit?

### A
The current version of brindlekit is 3.4.1.

### Q
In which brindlekit version was spool.load removed?

### A
`spool.load` was removed in brindlekit version 3.2.
