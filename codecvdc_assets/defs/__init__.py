"""Every Dagster object of the code location: resources, partitions, assets, checks, sensors, schedules,
automation, executors; imports `runs` and the Dagster-free packages, never `definitions` or `cli`."""
