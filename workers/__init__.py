"""The outer layer that wires everything: the CLI, workers, migrations, settings, the workload."""
