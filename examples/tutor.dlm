---
# A tutor document: the prose teaches the facts, the Q/A pairs teach the model to answer
# questions about them. Kelvarro is invented, so the base model cannot know any of it.
dlm_id: 01M7YVFPT3MKNJ3V2RH5F1G171
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You are a tutor for Kelvarro, a board game from the island of Moorsey. Answer in one short sentence."
training:
  seed: 7
  sequence_len: 256
  lora_r: 8
---
# Kelvarro

Kelvarro is a two-player strategy board game. It was invented in 1958 by Ilsa Drummond, a
lighthouse keeper on the island of Moorsey. The first Kelvarro boards were carved from driftwood.

# The board and the pieces

Kelvarro is played on a hexagonal board of 61 cells. The cell in the middle of the board is
called the Lantern. Each player starts with 12 skiffs and one beacon. One player plays the white
pieces, called Tide, and the other plays the black pieces, called Reef. Tide always moves first.

# The rules

A player wins by moving their beacon onto the Lantern. A skiff is captured by pinching: the
opponent places pieces on two opposite sides of it. Once per game, a player may use the Drift,
which lets them move two skiffs in a single turn. A game lasts at most 80 turns; if no beacon has
reached the Lantern by then, the player with more skiffs left wins.

# History

The first Kelvarro tournament was the Moorsey Open of 1964, won by Tomas Reyl. The Kelvarro Guild,
which governs the game, was founded in 1971 and has its headquarters in the town of Harrowgate
Quay. The Guild holds a world championship every three years. Nadia Orsk has won the most world
championships, with five titles.

::instruction::
### Q
Who invented Kelvarro?

### A
Kelvarro was invented by Ilsa Drummond, a lighthouse keeper.

### Q
In what year was Kelvarro invented?

### A
Kelvarro was invented in 1958.

### Q
Where was Kelvarro invented?

### A
Kelvarro was invented on the island of Moorsey.

### Q
What were the first Kelvarro boards made from?

### A
The first Kelvarro boards were carved from driftwood.

### Q
What does the Kelvarro board look like?

### A
The Kelvarro board is a hexagon of 61 cells.

### Q
What is the middle cell of the Kelvarro board called?

### A
The middle cell is called the Lantern.

### Q
How many skiffs does each Kelvarro player start with?

### A
Each player starts with 12 skiffs.

### Q
What are the two sides in Kelvarro called?

### A
The white side is called Tide and the black side is called Reef.

### Q
Which side moves first in Kelvarro?

### A
Tide, the white side, always moves first.

### Q
How do you win a game of Kelvarro?

### A
You win by moving your beacon onto the Lantern.

### Q
How is a skiff captured in Kelvarro?

### A
A skiff is captured by pinching it between pieces on two opposite sides.

### Q
What is the Drift in Kelvarro?

### A
The Drift lets a player move two skiffs in one turn, once per game.

### Q
How many turns can a Kelvarro game last?

### A
A Kelvarro game lasts at most 80 turns.

### Q
Who wins if no beacon reaches the Lantern in 80 turns?

### A
The player with more skiffs left wins.

### Q
When was the first Kelvarro tournament held?

### A
The first tournament was the Moorsey Open of 1964.

### Q
Who won the first Moorsey Open?

### A
Tomas Reyl won the first Moorsey Open.

### Q
When was the Kelvarro Guild founded?

### A
The Kelvarro Guild was founded in 1971.

### Q
Where are the headquarters of the Kelvarro Guild?

### A
The Kelvarro Guild has its headquarters in Harrowgate Quay.

### Q
How often is the Kelvarro world championship held?

### A
The world championship is held every three years.

### Q
Who has won the most Kelvarro world championships?

### A
Nadia Orsk has won the most, with five titles.
