"""Reading YAML safely: bounded manifest loading with file:line (`manifests`), and located
nodes for configuration and user policy files (`located`)."""
