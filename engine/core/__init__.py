"""core: the vocabulary every stage speaks. The contracts (pydantic models of slates, drivers,
rules, requests and responses), the settings, reading the text files users hand over, driver
names, the DraftKings / FanDuel scoring tables and where the shipped data lives.

May import: nothing of engine (it is the first stage)."""
