---
# Two lanes on one base, and a gate that picks the lane for each prompt.
# `harbour` knows the town of Saltmarrow; `tidepool` knows the tidepool command-line tool.
# With training.gate.enabled, `dlm prompt` and `dlm serve` route every prompt to the adapter
# whose sections it resembles; `--adapter NAME` still pins one.
dlm_id: 01KB0GATE0RANES00000000001
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You answer in one short sentence."
training:
  seed: 7
  sequence_len: 256
  adapters:
    harbour: {}
    tidepool: {}
  gate:
    enabled: true
---
::prose#harbour::
Saltmarrow is a fishing town at the mouth of the river Wend. Its harbour master is Odile Brackwater,
who has kept the harbour log since 2011. The lighthouse on Gull Point flashes green every six
seconds. The town's fish market opens at five in the morning and closes at noon, and the ferry
to the island of Skarra leaves the north quay twice a day.

Saltmarrow holds the Net Mending Fair every May, when the whole quay is covered in drying nets.
The oldest pub in town, the Drowned Lantern, stands on Cable Street and serves eel pie on Fridays.

::instruction#harbour::
### Q
Who is the harbour master of Saltmarrow?

### A
Odile Brackwater is the harbour master of Saltmarrow.

### Q
What colour does the Gull Point lighthouse flash?

### A
The Gull Point lighthouse flashes green every six seconds.

### Q
When does the Saltmarrow fish market open?

### A
The fish market opens at five in the morning and closes at noon.

### Q
How often does the ferry to Skarra leave?

### A
The ferry to Skarra leaves the north quay twice a day.

### Q
When is the Net Mending Fair held?

### A
The Net Mending Fair is held every May.

### Q
Where is the Drowned Lantern pub?

### A
The Drowned Lantern stands on Cable Street.

::prose#tidepool::
tidepool is a command-line tool that keeps a folder of notes in sync with a git repository. Run
`tidepool init` in a folder to start tracking it, `tidepool sync` to commit and push every change,
and `tidepool status` to list the files that changed since the last sync.

The configuration lives in `.tidepool.toml`. The `interval` key sets how many minutes the
background daemon waits between syncs (default 15), and `tidepool daemon --stop` stops it.
`tidepool sync --dry-run` prints what would be committed without committing anything.

::instruction#tidepool::
### Q
How do I start tracking a folder with tidepool?

### A
Run `tidepool init` in the folder.

### Q
Which command commits and pushes every change?

### A
`tidepool sync` commits and pushes every change.

### Q
Where does tidepool keep its configuration?

### A
In the `.tidepool.toml` file.

### Q
What does the interval key set?

### A
How many minutes the daemon waits between syncs; the default is 15.

### Q
How do I stop the tidepool daemon?

### A
Run `tidepool daemon --stop`.

### Q
How can I see what tidepool sync would commit without committing?

### A
Run `tidepool sync --dry-run`.
