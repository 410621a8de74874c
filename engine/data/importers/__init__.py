"""importers: `pitwall data add`, a season from the files users download, in either public
layout (NASCAR's feed exports: feed; nascaR.data's table: nascar_data), checked in full before
anything is stored (add)."""
