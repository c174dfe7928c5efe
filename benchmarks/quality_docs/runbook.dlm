---
dlm_id: 01K9RNB0K4T7Q2WXMZ5C8D1EHF
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You are an assistant for the operations runbook of Ferrowind, the message relay service of Oskerby Freight. Answer in one short sentence."
---
# Ferrowind overview

Ferrowind is the message relay service that moves shipment events between the warehouses of
Oskerby Freight. It was written by the Larchmont team and the current release is Ferrowind 4.12.
Ferrowind runs on nine nodes, named fw-01 to fw-09, all in the Kestrel data centre.
Clients connect to Ferrowind on port 7461. The Ferrowind admin console listens on port 9318.

# Tools

Operators manage Ferrowind with a command-line tool called wrenctl. The command
`wrenctl status` shows the health of every node. The command `wrenctl drain` followed by a node
name, for example `wrenctl drain fw-04`, takes that Ferrowind node out of rotation. In an
emergency, the command `wrenctl freeze --all` stops all Ferrowind traffic at once.
The Ferrowind dashboard is called Gantry. Ferrowind logs are searched in a tool called Siltview.
Ferrowind alerts are sent through the pager system Chimewick.

# Thresholds

The Ferrowind queue depth alert fires when the queue depth stays above 48,000 messages for five
minutes. Ferrowind raises a disk warning when disk usage reaches 82 percent. The p99 latency
threshold for Ferrowind is 350 milliseconds. A Ferrowind node is considered dead when its
heartbeat has been silent for 26 seconds. Ferrowind takes a snapshot every six hours and stores
it in the bucket fw-snap-vault.

# On-call rota

The Ferrowind on-call rota hands over every Tuesday at 10:00. Odalys Venkmar leads the Ferrowind
on-call rota. Handover notes are posted in the chat channel #fw-watch.

# Escalation

When Chimewick pages, the primary on-call engineer must acknowledge within ten minutes. If
nobody acknowledges, Chimewick pages the secondary engineer after fifteen minutes. A Ferrowind
outage must be escalated to the duty manager when it lasts more than 45 minutes. The Ferrowind
duty manager is Teodric Hallow. Every SEV-1 incident needs a written report within three working
days.

# Deploys

New Ferrowind releases are deployed with `wrenctl rollout`, one node at a time, starting with
fw-09. Deploys are not allowed on Fridays or during the monthly stocktake freeze. A deploy must
be announced in #fw-watch at least 30 minutes before it starts.

::instruction::
### Q
What port do Ferrowind clients connect on?

### A
Ferrowind clients connect on port 7461.

### Q
What port does the Ferrowind admin console listen on?

### A
The Ferrowind admin console listens on port 9318.

### Q
How many nodes does Ferrowind run on?

### A
Ferrowind runs on nine nodes, named fw-01 to fw-09.

### Q
What command-line tool is used to manage Ferrowind?

### A
Ferrowind is managed with the command-line tool wrenctl.

### Q
What is the Ferrowind dashboard called?

### A
The Ferrowind dashboard is called Gantry.

### Q
Which pager system sends Ferrowind alerts?

### A
Ferrowind alerts are sent through Chimewick.

### Q
Which command takes a Ferrowind node out of rotation?

### A
The command `wrenctl drain` followed by the node name takes it out of rotation.

### Q
Which command stops all Ferrowind traffic in an emergency?

### A
The command `wrenctl freeze --all` stops all Ferrowind traffic.

### Q
When does the Ferrowind queue depth alert fire?

### A
It fires when the queue depth stays above 48,000 messages for five minutes.

### Q
At what disk usage does Ferrowind raise a warning?

### A
Ferrowind raises a disk warning at 82 percent disk usage.

### Q
What is the p99 latency threshold for Ferrowind?

### A
The p99 latency threshold for Ferrowind is 350 milliseconds.

### Q
When is a Ferrowind node considered dead?

### A
A Ferrowind node is considered dead when its heartbeat has been silent for 26 seconds.

### Q
When does the Ferrowind on-call rota hand over?

### A
The Ferrowind on-call rota hands over every Tuesday at 10:00.

### Q
Who leads the Ferrowind on-call rota?

### A
Odalys Venkmar leads the Ferrowind on-call rota.

### Q
Who is the Ferrowind duty manager?

### A
The Ferrowind duty manager is Teodric Hallow.

### Q
When should a Ferrowind outage be escalated to the duty manager?

### A
A Ferrowind outage is escalated to the duty manager when it lasts more than 45 minutes.
