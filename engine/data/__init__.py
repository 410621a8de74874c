"""data: the races and the slates. The shipped history plus the races added with `pitwall data
add` (history, store, checks, importers), salary files, pre-race features, and slates with
their starting grid (grid) and analyst-editable defaults (slates).

May import: engine.core."""
