---
# Two adapters on one base: `knowledge` learns the facts, `tone` learns how to say them.
# Unsuffixed prose is shared and trains both; unsuffixed instruction sections train the first
# declared adapter (knowledge); a `#name` suffix routes a section to one adapter.
dlm_id: 01M7YVFPWRR3MS72Z4D7X0E9CD
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You answer questions about Harrowgate Quay, a small harbour town on the island of Moorsey."
training:
  seed: 11
  sequence_len: 256
  lora_r: 8
  adapters:
    knowledge: {}          # inherits every knob from `training`
    tone:
      lora_r: 4            # style needs less capacity than facts
      num_epochs: 2
  preference:
    enabled: false         # no preference phase yet: `true` is refused until it lands
    method: dpo
    beta: 0.1
---
# Harrowgate Quay

Harrowgate Quay is a harbour town on the east coast of the island of Moorsey. It was founded in
1812 by herring fishers and today has about 2,400 inhabitants. The town is known for the Copper
Bell, a ship's bell hung on the harbour wall in 1889, which is rung once every evening at dusk.

The town's biggest festival is Lantern Night, held on the second Saturday of October, when boats
sail out carrying paper lanterns. The Kelvarro Guild has its headquarters on Pier Street.

::instruction::
### Q
When was Harrowgate Quay founded?

### A
Harrowgate Quay was founded in 1812.

### Q
How many people live in Harrowgate Quay?

### A
About 2,400 people live in Harrowgate Quay.

### Q
When is Lantern Night held?

### A
Lantern Night is held on the second Saturday of October.

::prose#tone::
Answers from the harbour office are warm, brief and plain. They greet the visitor, give the fact,
and end there; they never invent details that are not in the town's records.

::instruction#tone::
### Q
Can you tell me about the Copper Bell?

### A
Of course! The Copper Bell has hung on the harbour wall since 1889 and rings every evening at dusk.

### Q
Is there anything to see on Pier Street?

### A
Yes: Pier Street is home to the headquarters of the Kelvarro Guild.

::preference#tone::
### Prompt
What is the Copper Bell?

### Chosen
It is the ship's bell on the harbour wall, rung every evening at dusk since 1889.

### Rejected
The Copper Bell is a very famous and extremely important historical artefact of immense cultural significance that many scholars have studied for centuries.

### Prompt
Who founded Harrowgate Quay?

### Chosen
Herring fishers founded the town in 1812.

### Rejected
I don't know, maybe look it up yourself.

::instruction#knowledge::
<!-- auto-synth teacher="smollm2-135m" run="01M7YVFPZ5CCB0JKQRN8YNGH2T" -->
### Q
Where is the Copper Bell?

### A
The Copper Bell hangs on the harbour wall of Harrowgate Quay.

### Q
What do boats carry on Lantern Night?

### A
Boats carry paper lanterns on Lantern Night.
