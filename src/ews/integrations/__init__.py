"""EWS in other frameworks' training loops (each module needs its framework: `pip install 'ews-robust[NAME]'`)."""
