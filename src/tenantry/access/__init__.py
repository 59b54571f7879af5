"""The access model's shared machinery: the caller's snapshot, the checks made with it
(permission, no escalation), and the epoch bump every access change makes."""
