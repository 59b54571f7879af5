"""Jobs: work started after a commit, from a row written in it (the provisioning start)."""
