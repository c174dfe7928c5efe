---
dlm_id: 01K9FQ7D3V6M9K2T5W8X1Y4ZAB
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You are a support assistant answering questions about the Skyslate e-ink writing tablet from Quennet Labs. Answer in one short sentence."
---
# Skyslate

The Skyslate is an e-ink writing tablet made by Quennet Labs, a company based in Varnholm. It was
designed by Orla Venn and first went on sale in 2027. There are two models: the Skyslate (model
QS-210) costs 289 euros and has a 10.3-inch screen, and the Skyslate Max (model QS-240) costs
379 euros and has a 13.1-inch screen. The battery lasts 41 hours of writing. The Skyslate comes in
Fjord Blue, Ash Grey and Clay. Every Skyslate has an 18-month warranty. The Skyslate runs an
operating system called Tidemark OS, and its aluminium frame is made at the Quennet factory in
Kessmoor.

::instruction::
### Q
How much does the Skyslate QS-210 cost?

### A
The Skyslate QS-210 costs 289 euros.

### Q
How much does the Skyslate Max cost?

### A
The Skyslate Max costs 379 euros.

### Q
What is the model number of the Skyslate Max?

### A
The model number of the Skyslate Max is QS-240.

### Q
What is the model number of the standard Skyslate?

### A
The model number of the standard Skyslate is QS-210.

### Q
How big is the screen on the Skyslate QS-210?

### A
The Skyslate QS-210 has a 10.3-inch screen.

### Q
How big is the screen on the Skyslate Max?

### A
The Skyslate Max has a 13.1-inch screen.

### Q
How long does the Skyslate battery last?

### A
The Skyslate battery lasts 41 hours of writing.

### Q
How long does the Skyslate take to charge fully?

### A
The Skyslate charges fully in 95 minutes.

### Q
What colours does the Skyslate come in?

### A
The Skyslate comes in Fjord Blue, Ash Grey and Clay.

### Q
How long is the Skyslate warranty?

### A
The Skyslate has an 18-month warranty.

### Q
How much does the Skyslate weigh?

### A
The Skyslate weighs 312 grams.

### Q
How thick is the Skyslate?

### A
The Skyslate is 5.8 millimetres thick.

### Q
Is the Skyslate waterproof?

### A
The Skyslate is rated IPX4, so it resists splashes but is not waterproof.

### Q
What stylus comes with the Skyslate?

### A
The Skyslate comes with the Tern stylus.

### Q
How much does a pack of spare Skyslate stylus tips cost?

### A
A pack of ten spare Skyslate stylus tips costs 14 euros.

### Q
How much storage does the Skyslate have?

### A
The Skyslate has 48 GB of storage.

### Q
What is the Skyslate customer support phone number?

### A
The Skyslate customer support phone number is 0800 316 2290.

### Q
What is the screen resolution of the Skyslate?

### A
The Skyslate screen has a resolution of 227 pixels per inch.

### Q
How often does Quennet Labs release Skyslate firmware updates?

### A
Quennet Labs releases Skyslate firmware updates every seven weeks.

### Q
How many days can the Skyslate stay on standby?

### A
The Skyslate can stay on standby for 38 days.

### Q
What is the return period for the Skyslate?

### A
The Skyslate can be returned within 45 days of purchase.

### Q
How much does the Skyslate folio case cost?

### A
The Skyslate folio case costs 57 euros.

### Q
Which app syncs Skyslate notes to a computer?

### A
The Slatebridge app syncs Skyslate notes to a computer.

### Q
How much does a Skyslate screen replacement cost after the warranty ends?

### A
A Skyslate screen replacement costs 119 euros after the warranty ends.
