---
# Three lanes: a bakery's recipes, an allotment's planting notes, a club's accounts.
dlm_id: 01KB0GATE0RCHARD000000001A
dlm_version: 2
base_model: smollm2-135m
training:
  seed: 3
  adapters: [bakery, allotment, accounts]
  gate:
    enabled: true
---
::prose#bakery::
The Hollin Street bakery makes its rye loaf with a three-day sour starter called Old Mabel. The
dough is proved for fourteen hours in the cellar and baked at 230 degrees for fifty minutes. The
honey buns use clover honey from the Pettigrew farm and are glazed twice.

::instruction#bakery::
### Q
What is the bakery's sour starter called?

### A
The starter is called Old Mabel.

### Q
How long is the rye dough proved?

### A
Fourteen hours, in the cellar.

### Q
At what temperature is the rye loaf baked?

### A
At 230 degrees, for fifty minutes.

### Q
Whose honey goes into the honey buns?

### A
Clover honey from the Pettigrew farm.

::prose#allotment::
Plot 14 of the Brambling allotments grows leeks, broad beans and a row of gooseberries. Broad
beans are sown in November and again in March. The leeks are earthed up every three weeks, and
the gooseberry bushes are pruned in late winter. Slugs are kept off with copper tape, never pellets.

::instruction#allotment::
### Q
When are the broad beans sown on plot 14?

### A
In November and again in March.

### Q
How often are the leeks earthed up?

### A
Every three weeks.

### Q
When are the gooseberry bushes pruned?

### A
In late winter.

### Q
How are slugs kept off the plot?

### A
With copper tape, never pellets.

::prose#accounts::
The Wexcombe chess club charges members forty crowns a year, and juniors pay half. The club's
account is held at the Millbrook savings bank. Last year the club spent 310 crowns on hall hire and
85 crowns on new clocks, and ended the year with 1,240 crowns in the bank.

::instruction#accounts::
### Q
How much is the chess club's yearly membership?

### A
Forty crowns a year; juniors pay half.

### Q
Where does the chess club keep its money?

### A
At the Millbrook savings bank.

### Q
How much did the club spend on hall hire last year?

### A
310 crowns.

### Q
How much money did the club end the year with?

### A
1,240 crowns.
