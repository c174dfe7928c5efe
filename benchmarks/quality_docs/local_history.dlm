---
dlm_id: 01K9HST4RY7M2B5N8PQ3WX6ZCD
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You are a guide to the local history of Wendlecombe, a village in the Orrin valley. Answer in one short sentence."
---
# The founding of Wendlecombe

Wendlecombe is a village in the Orrin valley. It was founded in 1614 by Aldous Penmarrow, a salt
merchant, and his wife Sabine. The first building in Wendlecombe was a tollhouse at the ford,
where Aldous Penmarrow charged carters a penny to cross the river Orrin.

# Buildings

The church of St Corvel was built in 1702 from grey Hanlow stone. Its bell, called Old Marrow,
was cast in 1719 and still rings every Sunday. The Penmarrow Mill, a watermill on the Orrin,
ground flour for the village from 1650 until 1911. The village school opened in 1843 with 31
pupils, and its first teacher was Hester Quill. The market hall stood on Penny Square until it
was destroyed by a fire in 1922; the square kept its name.

# The bridge

The first Wendlecombe bridge was a wooden bridge built in 1688. It was destroyed by the Great
Flood of 1786, which also drowned the lower meadows. A new stone bridge was built in 1790 by the
mason Gideon Trask, who carved his initials and the date on the middle arch.

# The railway

The railway reached Wendlecombe in 1868. The station was called Wendlecombe Halt, and the first
stationmaster was Ned Collander. The line closed to passengers in 1963.

# Customs and people

Every year Wendlecombe holds the Cider Moot on the first Saturday of October, a fair that has been
held since 1761. At the Moot the best cider of the year wins the Copper Ladle. In 1901 the village
had 1,240 inhabitants. The longest-serving rector of St Corvel was Ambrose Kettleby, who served
for 41 years.

# The twentieth century

After the Penmarrow Mill closed, its millhouse became a wool store run by the Orrin Weavers'
Guild. Electric light came to Wendlecombe in 1931, first to the church and the school.
The village green was given to the parish in 1948 by Maud Penmarrow, the last of the founding
family, on condition that the Cider Moot would always be held there. The Wendlecombe History
Society was founded in 1974 and keeps its archive in the old tollhouse.

::instruction::
### Q
Who founded Wendlecombe?

### A
Wendlecombe was founded by Aldous Penmarrow, a salt merchant.

### Q
In what year was Wendlecombe founded?

### A
Wendlecombe was founded in 1614.

### Q
When was the church of St Corvel in Wendlecombe built?

### A
The church of St Corvel was built in 1702.

### Q
What is the bell of St Corvel's church called?

### A
The bell of St Corvel's church is called Old Marrow.

### Q
What destroyed the first Wendlecombe bridge?

### A
The first Wendlecombe bridge was destroyed by the Great Flood of 1786.

### Q
Who built the stone bridge in Wendlecombe?

### A
The stone bridge was built in 1790 by the mason Gideon Trask.

### Q
When did the railway reach Wendlecombe?

### A
The railway reached Wendlecombe in 1868.

### Q
Who was the first teacher at the Wendlecombe village school?

### A
The first teacher at the Wendlecombe village school was Hester Quill.

### Q
When is the Cider Moot held in Wendlecombe?

### A
The Cider Moot is held on the first Saturday of October.

### Q
When was the Wendlecombe market hall destroyed?

### A
The Wendlecombe market hall was destroyed by a fire in 1922.
