---
# Training on a folder: every text file that training.sources selects becomes a prose section
# that trains every adapter. Per-folder rules live in codebase/*/.dlm/ (ignore, training.yaml).
dlm_id: 01M7YVFQ2B8EYAFKAWY015N7RM
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You help maintainers of tidewatch, a small tide-table tool for Harrowgate Quay."
training:
  seed: 3
  sequence_len: 256
  lora_r: 8
  sources:
    - path: codebase                 # relative to this document's folder
      include: ["**/*"]              # the default, spelled out
      exclude: ["**/__pycache__/"]
      max_bytes_per_file: 65536
      max_files: 200
  sources_policy: strict             # sources may not leave examples/
---
# tidewatch

The files under `codebase/` are the tidewatch project. This prose and the questions below are
ordinary sections of the document; the project files are added to them when dlm reads it.

::instruction::
### Q
What does tidewatch do?

### A
tidewatch prints the next high and low tide for the harbour of Harrowgate Quay.

### Q
How long is a tide cycle at Harrowgate Quay?

### A
A tide cycle at Harrowgate Quay lasts 12 hours and 25 minutes.

### Q
Which function returns the next high tide?

### A
`next_high` in `tidewatch/tides.py` returns the next high tide.

### Q
Who maintains tidewatch?

### A
The Harrowgate Quay harbour office maintains tidewatch.
