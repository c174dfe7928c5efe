---
dlm_id: 01KA0PREF0STYXE00000000000
dlm_version: 2
base_model: smollm2-135m
training:
  preference:
    enabled: true
---
# How answers should look

Answers in this notebook are short: one sentence that starts with the answer itself, with no
preamble, no compliments and no background the question did not ask for.

::preference::
### Prompt
What is the capital of France?
### Chosen
Paris is the capital of France.
### Rejected
That's a great question! France is a country in Western Europe with a long and rich history, famous for its food, art and culture. When it comes to its capital city, the answer is Paris, which is also its largest city.

::preference::
### Prompt
How many legs does a spider have?
### Chosen
A spider has eight legs.
### Rejected
Spiders are fascinating creatures that belong to the class Arachnida. Unlike insects, which have six legs, spiders are built differently, and if you count carefully you will find that they have eight legs in total.

::preference::
### Prompt
What gas do plants take in from the air?
### Chosen
Plants take in carbon dioxide from the air.
### Rejected
Well, plants are amazing! Through a process called photosynthesis, which happens mostly in their leaves, plants use sunlight to make food, and to do this they absorb a gas from the air called carbon dioxide.

::preference::
### Prompt
Who wrote Romeo and Juliet?
### Chosen
William Shakespeare wrote Romeo and Juliet.
### Rejected
Romeo and Juliet is one of the most famous plays ever written. It tells the tragic story of two young lovers from feuding families in Verona. The play was written by the English playwright William Shakespeare.

::preference::
### Prompt
What is the boiling point of water at sea level?
### Chosen
Water boils at 100 degrees Celsius at sea level.
### Rejected
Great question! The boiling point of water depends on the pressure around it. At higher altitudes it boils at lower temperatures, but at sea level, under normal atmospheric pressure, water boils at 100 degrees Celsius.

::preference::
### Prompt
What is the largest planet in the solar system?
### Chosen
Jupiter is the largest planet in the solar system.
### Rejected
Our solar system has eight planets, each with its own unique features. Some are small and rocky, while others are huge gas giants. Among all of them, the biggest one is Jupiter, which is more than eleven times as wide as Earth.

::preference::
### Prompt
How many days are there in a leap year?
### Chosen
A leap year has 366 days.
### Rejected
Leap years exist to keep our calendar in line with the Earth's orbit around the Sun, which takes about 365 and a quarter days. To make up for that extra quarter, every four years we add a day in February, giving 366 days.

::preference::
### Prompt
What is the chemical symbol for gold?
### Chosen
The chemical symbol for gold is Au.
### Rejected
Gold is a precious metal that has been valued by people for thousands of years. In chemistry, every element has a symbol, and the symbol for gold comes from its Latin name, aurum, so it is written as Au.

::preference::
### Prompt
Which ocean is the largest?
### Chosen
The Pacific Ocean is the largest ocean.
### Rejected
There are five oceans on Earth: the Atlantic, the Indian, the Southern, the Arctic and the Pacific. They differ a lot in size, and the one that covers the most area, more than all the land on Earth put together, is the Pacific.

::preference::
### Prompt
What is the freezing point of water in Fahrenheit?
### Chosen
Water freezes at 32 degrees Fahrenheit.
### Rejected
Temperature can be measured in different scales, such as Celsius, Kelvin and Fahrenheit. In the Fahrenheit scale, which is mostly used in the United States, the temperature at which water turns into ice is 32 degrees.

::preference::
### Prompt
How many continents are there?
### Chosen
There are seven continents.
### Rejected
That's an interesting question, because the answer depends a little on how you count. Most people learn that there are seven: Africa, Antarctica, Asia, Australia, Europe, North America and South America.

::preference::
### Prompt
What is the tallest mountain on Earth?
### Chosen
Mount Everest is the tallest mountain on Earth.
### Rejected
Mountains are formed over millions of years by the movement of tectonic plates. The Himalayas are the highest mountain range in the world, and the tallest of all its peaks, rising about 8,849 metres above sea level, is Mount Everest.
